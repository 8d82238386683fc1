"""Whether a sealed payer key opens into a key that signs, judged once a process for each sealed
value: a payer's ``ready`` refuses a payment whose key cannot sign before its debit (a key sealed
under another ``AITOPUP_SECRET_KEY``, for another network or merchant, or not a key at all), not
after it, and without opening a secret for every payment.

What is remembered is the verdict, never the secret, keyed by the sealer's keyed digest of the
sealed value and its context (``keys.Sealer.lookup``): a value sealed again, a new secret, or
the same value under another context is judged anew."""

from collections.abc import Callable

from keys import Sealer, SealError

__all__ = ["unusable"]

# Verdicts kept: the sealed values a process meets are its settings' and its merchants' keys in
# use; past this many, the oldest half is judged again when next met.
_MOST = 4096
_VERDICTS: dict[str, str | None] = {}


def unusable(sealer: Sealer, sealed: str, context: str, signs: Callable[[str], bool]) -> str | None:
    """Why the key sealed as ``sealed`` under ``context`` cannot sign (it does not open under
    this gateway's secret, or what opens is not a key ``signs`` accepts), in words that never
    repeat it; ``None`` when it can."""
    seen = sealer.lookup(f"{context}\n{sealed}")
    if seen in _VERDICTS:
        return _VERDICTS[seen]
    try:
        why = None if signs(sealer.open(sealed, context=context)) else "opens to no key that signs"
    except SealError:
        why = "does not open under this gateway's AITOPUP_SECRET_KEY"
    if len(_VERDICTS) >= _MOST:
        for old in list(_VERDICTS)[: _MOST // 2]:
            del _VERDICTS[old]
    _VERDICTS[seen] = why
    return why
