import keys


def test_public_names_are_exported_and_exist() -> None:
    for name in keys.__all__:
        assert hasattr(keys, name), name
    public = {n for n in dir(keys) if not n.startswith("_")}
    modules = {
        "apikey",
        "codes",
        "ed25519",
        "errors",
        "oauth",
        "poller",
        "sealing",
        "secret",
        "signing",
    }
    assert public - modules == set(keys.__all__)
