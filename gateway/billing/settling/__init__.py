"""Settling what a channel says was paid, above orders and subscriptions alike: its
notifications (``notices``: verified by the provider, recorded once, applied as an order's or a
subscription's transitions) and the look again at the provider when one is lost or late
(``reconcile``)."""
