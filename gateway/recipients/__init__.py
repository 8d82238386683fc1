"""Recipients: the recipient's own page (``page``), the fresh link they may ask for
(``links``), and the merchant's view of its recipients (``service``)."""
