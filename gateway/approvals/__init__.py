"""Approvals where people are: what a key's policy holds for a person to decide (a send, a
payment to a seller: ``held``), the one-time links that decide it by mail and Telegram
(``links``), and the one door every link's decision goes through (``doors``, above the sends'
and the payments' own decisions)."""
