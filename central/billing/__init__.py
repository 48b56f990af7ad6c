"""Billing: pure pricing rules and ledger arithmetic in Decimal; services and models build on these."""
