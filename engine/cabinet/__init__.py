"""Placeholder package for the ``cabinet`` app label of generated models."""
