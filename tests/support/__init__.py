"""Shared test helpers (fixtures are loaded as pytest plugins from tests/conftest.py)."""
