"""Checks: lint a recipe, verify a folder, inspect certificates, list expiry dates."""
