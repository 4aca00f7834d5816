"""Patron: an IoT-connected CRM with a research-grade customer-analytics core."""

__version__ = "0.1.0"
