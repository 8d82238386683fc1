"""The payment providers' registry: the built-in channels, and adding one at run time."""

from types import SimpleNamespace
from typing import ClassVar

import pytest

from gateway.billing.channels import registry as channels
from gateway.billing.channels.registry import Provider


class _Made(Provider[channels.NoCredentials]):
    name: ClassVar[str] = "made_up"
    title: ClassVar[str] = "Made up"


def test_built_in_channels_are_registered() -> None:
    names = [p.name for p in channels.all_providers()]
    assert names[:2] == ["sandbox", "stripe"]
    assert channels.get("stripe") is not None and channels.get("nope") is None


def test_registered_adds_for_the_block_only() -> None:
    with channels.registered(_Made()) as made:
        assert channels.get("made_up") is made
        with pytest.raises(ValueError, match="already registered"):
            channels.register(_Made())
    assert channels.get("made_up") is None


@pytest.mark.parametrize("name", ["", "Bad", "a-b", "x" * 31])
def test_a_name_must_be_a_channel_id(name: str) -> None:
    made = _Made()
    made.name = name  # type: ignore[misc]  # one instance's name, for the test
    with pytest.raises(ValueError, match="channel's name"):
        channels.register(made)


def test_built_in_providers_cannot_be_taken_away() -> None:
    with pytest.raises(ValueError, match="built in"):
        channels.unregister("stripe")


def test_an_order_is_its_channel_s_or_the_sandbox_s() -> None:
    sandbox = SimpleNamespace(provider="sandbox", channel="stripe", kind="checkout")
    invoice = SimpleNamespace(provider="stripe", channel=None, kind="invoice")
    assert channels.for_order(sandbox) is channels.get("sandbox")
    assert channels.for_order(invoice) is channels.get("stripe")
