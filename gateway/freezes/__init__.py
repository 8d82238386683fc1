"""The kill switch: freezing a merchant's environment (or, through budgets, one budget)."""
