"""Rates, payout batches, exports and Stripe Connect. Money is integer cents, never floats."""
