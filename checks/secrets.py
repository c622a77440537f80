"""Secrets at rest: Fernet tokens under keys from PREFLIGHT_SECRET_KEYS (comma-separated,
newest first). Decryption tries every key, so a key is rotated by putting a new one first and
running ``manage.py rotate_secrets``, which re-encrypts everything under it."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """No configured key opens this token (a key was removed before rotating)."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.PREFLIGHT_SECRET_KEYS])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured key decrypts this secret") from None


def rotate(token: str) -> str:
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured key decrypts this secret") from None
