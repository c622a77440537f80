"""A FastAPI service that follows the reference API, with flaw switches and drill hooks.

    REF_PROBE_PASSWORD=... REF_OTP_SECRET=... python -m examples.reference_service --port 8001

`create_app(RefConfig(...))` builds an instance in-process (tests run it over real HTTP with
tests/support/refservice.py). Each name in FLAWS breaks exactly one rule of the contract.
"""

from .app import create_app
from .config import FLAWS, ConfigError, RefConfig

__all__ = ["FLAWS", "ConfigError", "RefConfig", "create_app"]
