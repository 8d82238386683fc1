"""Funding the merchant wallet, laid out by noun.

- ``orders/``: a funding order from checkout (or invoice) to settlement, expiry and the payer's
  return; its table of moves (``states``), what it costs (``pricing``), its coupon uses, and
  the staging sandbox's checkout (``sandbox``, its page ``sandbox_page``).
- ``subscriptions/``: the plans (``plans``) and a subscription paid each period: opened,
  credited once a period, renewed and reported by every channel (``renewals``), its table of
  moves (``states``), the unpaid checkout holding the merchant's place (``open_checkouts``), its
  periods' invoices, the portal and the sandbox's subscription pages.
- ``settling/``: what settles orders and subscriptions alike: a channel's notifications
  (``notices``) and the look again at its provider when one is lost (``reconcile``).
- ``channels/``: the payment channels: the registry (``registry``), the operator's offering of
  each per environment (``offering``), each channel's provider (``providers/``) and the wire
  protocol it speaks (``protocols/``).
- ``auto_top_up/``: the wallet that tops itself up from a saved card, and its runs.
- ``checkin/``: the daily check-in reward.
- ``receipts/``: the gap-free receipt numbers, the receipt as a PDF and the billing profile it is
  made out to, and a receipt as its page and its PDF read it (``reads``).
- ``wallet/``: credits and debits outside a channel's checkout (``funding``), redemption codes
  and what a send refused for balance lacks (``shortfall``).

The agents' payments on a 402 (MPP, x402) are not here: each is a module of ``gateway.protocols``,
whose registry registers its channel with ``channels.registry``.

Shared by them all, here: what a merchant reads of its wallet's funding (``service``: packs, the
ledger) and its CSV exports (``exports``), the funding routes' wire models (``schemas``), the pages'
shell (``pages``, ``templates/``), the staging test clock (``sandbox_clock``) and New API's top-up
paths in its own words (``newapi``).
"""
