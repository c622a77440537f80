"""Runnable examples that Preflight validates against (see examples/reference_service)."""
