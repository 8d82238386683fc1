"""Money into a merchant wallet outside a checkout's channel, and what it lacks: a credit or a
debit with its ledger entry and events (``funding``), a redemption code credited once
(``redemption``), and what a send refused for balance tells its caller (``shortfall``)."""
