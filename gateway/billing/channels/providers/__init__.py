"""Each channel's provider, one module each behind one interface (``base``), and the Stripe
package's calls the Stripe channel makes. Which are offered is the registry's
(``billing.channels.registry``); what a channel says on the wire is its protocol's
(``billing.channels.protocols``)."""
