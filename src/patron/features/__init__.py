"""The features domain: the organisation's customer feature table, computed from the app's records
with :mod:`patron.analytics.features` and materialised as Parquet for segments and predictions."""
