"""x402's own protocol, as it documents it: the offer a 402 carries and the payment a retry
presents, verified and settled through its facilitator. The channels' protocols are in
``billing.channels.protocols``."""
