"""Operator commands (not shipped to Lambda)."""
