"""Placeholder: filled in by its reader work."""
FORMATS: list = []
