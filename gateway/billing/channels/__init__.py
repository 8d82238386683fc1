"""The payment channels a wallet is funded through: the registry of their providers
(``registry``), which of them an environment offers with which credentials, the operator's
setting (``offering``, its wire models in ``schemas``), each channel's provider behind one
interface (``providers``) and the wire protocol each speaks (``protocols``)."""
