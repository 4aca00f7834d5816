"""Loyalty: a points ledger per customer with a balance that can never go below zero."""
