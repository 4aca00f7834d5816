"""Patron's customer-analytics library: pure functions and estimators over DataFrames.

No web, ORM or settings code is imported here; the application calls this library.

- :mod:`patron.analytics.mcdm` — entropy weights, VIKOR, TOPSIS.
- :mod:`patron.analytics.rfm` — transactions to the (frequency, recency, T, monetary) summary.
- :mod:`patron.analytics.clv` — BG/NBD and Gamma-Gamma models, customer lifetime value.
- :mod:`patron.analytics.segmentation` — clustering, profiles, archetypes and playbooks.
- :mod:`patron.analytics.features` — the customer feature table, one Ibis expression for DuckDB or Spark.
- :mod:`patron.analytics.synthetic` — synthetic CRM tables in the feature pipeline's input layout.
- :mod:`patron.analytics.errors` — the errors raised on bad input.
"""
