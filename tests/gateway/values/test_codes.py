from gateway.values.code_names import RETIRED, Code
from gateway.values.codes import CATALOGUE


def test_every_code_has_a_number_of_its_own_and_a_catalogue_entry() -> None:
    # An enum quietly makes a second name with a taken number an alias of the first: one code
    # would then answer with another's words.
    names = Code.__members__
    assert len({code.value for code in names.values()}) == len(names)
    assert set(CATALOGUE) == set(Code)


def test_a_retired_number_is_never_given_again() -> None:
    # A client may still read a withdrawn code: its number keeps meaning only that.
    assert RETIRED
    assert not RETIRED & {int(code) for code in Code}
