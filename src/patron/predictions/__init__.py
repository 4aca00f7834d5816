"""Predictions per customer: lifetime value, P(alive), churn risk with its drivers, recommended products and
the sentiment trend, computed for a whole organisation in one run and shown on the customer page."""
