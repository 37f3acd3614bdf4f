"""Test helpers, imported by tests and fixtures (never from conftest.py)."""
