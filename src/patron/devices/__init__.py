"""Devices: the registry of a customer's connected things, their keys, bindings and health."""
