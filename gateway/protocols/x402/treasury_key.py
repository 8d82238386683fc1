"""The operator's treasury key per x402 network (``AITOPUP_TREASURY_X402_KEYS``): sealed at rest
under the gateway's secret, bound to its network (``values.treasury_settings.payer_key_context``),
opened only to sign a credential or to learn the address the operator funds, never shown or
logged."""

from keys import Sealer, SealError

from ...values.settings import Settings
from ...values.treasury_settings import payer_key_context
from ..base import PayerKey

__all__ = ["address", "opened", "seal"]


def opened(sealer: Sealer, settings: Settings, network: str) -> str | None:
    """The treasury's key for ``network`` in clear, or ``None`` when none is set. One sealed
    under another secret, or for another network, raises ``ValueError``."""
    sealed = settings.treasury_x402_keys.get(network)
    if sealed is None:
        return None
    try:
        return sealer.open(sealed.get_secret_value(), context=payer_key_context(network))
    except SealError:
        raise ValueError(
            f"the treasury's x402 key for {network} does not open: seal it again with this "
            "gateway's AITOPUP_SECRET_KEY (aitopup treasury --seal-x402-key)"
        ) from None


def address(sealer: Sealer, settings: Settings, network: str) -> str | None:
    """The address the treasury pays ``network``'s sellers from (checksummed), if a key is set."""
    from eth_account import Account

    key = opened(sealer, settings, network)
    if key is None:
        return None
    found: str = Account.from_key(key).address
    return found


def seal(sealer: Sealer, network: str, given: PayerKey) -> str:
    """``given``'s secret sealed for ``network``: the value ``AITOPUP_TREASURY_X402_KEYS`` holds
    (as ``aitopup treasury --seal-x402-key`` seals it)."""
    return sealer.seal(given.secret, context=payer_key_context(network))
