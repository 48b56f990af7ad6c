"""Notify: notices to residents (email with a PDF, SMS) through a durable outbox that retries and never loses one."""
