"""An agent's wallet paying a seller's 402 (``POST /payments``, MCP's ``pay_challenge``): a
payment as a send and a charge are (``payments.plan``, ``payments.once``), whose credential a
protocol's paying half makes (``protocols.base.Payer``).

``service``: the operation and the reads; ``authorizing``: the payment's plan, its parameters,
its credential sealed and the records that end its request; ``states``: its states, the moves
between them and their plans; ``holds``: the worker's tries; ``schemas``: the wire models.
"""
