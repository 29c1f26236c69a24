"""Helpers for tests and the sample-data generator (not used by the readers)."""
