"""Approvals where people are: what a key's policy holds for a person to decide, each kind of
hold one module implementing ``held.Hold`` (a send, a payment to a seller, the next), and the
one-time links that decide it by mail and Telegram (``links``). Below every kind; the kinds'
registry and the one door every link's decision goes through are above them all
(``holds``)."""
