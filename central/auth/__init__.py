"""Accounts, roles, estate tenancy and the audit log."""
