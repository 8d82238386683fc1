"""The payment protocols agents speak (MPP, x402): a module each behind one interface
(``base.Receiver``, the receiving half; ``base.Payer``, the paying half's place), their registry
(``registry``), the paid retry every payable request shares (``paid``) and a credential's order
(``orders``). No door and no other domain module names a protocol."""
