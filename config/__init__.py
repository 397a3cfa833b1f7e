"""Packaged configuration: the tier catalogue, the example settings and host templates."""
