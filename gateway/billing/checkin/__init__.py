"""The daily check-in: the reward a merchant takes once a day (``daily``) and its wire models,
with the operator's settings (``schemas``)."""
