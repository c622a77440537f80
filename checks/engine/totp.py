"""TOTP codes (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) for any base32 secret.

pyotp refuses secrets shorter than 112 bits with a ValueError. A short secret is the
service's weakness, not a reason for the probe to crash: ``auth.otp_flow`` reports it as a
finding (RFC 4226 §4 asks for at least 128 bits) while the codes are still computed here for
every check that needs them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

RECOMMENDED_BITS = 128  # RFC 4226 §4, R6: the shared secret MUST be at least 128 bits


class Totp:
    def __init__(self, secret: str, *, interval: int = 30, digits: int = 6) -> None:
        cleaned = secret.replace(" ", "").upper()
        self.key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
        self.interval = interval
        self.digits = digits

    @property
    def secret_bits(self) -> int:
        return len(self.key) * 8

    def generate_otp(self, step: int) -> str:
        digest = hmac.new(self.key, struct.pack(">Q", step), hashlib.sha1).digest()
        offset = digest[-1] & 0x0F
        code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
        return str(code % 10**self.digits).zfill(self.digits)

    def at(self, when: float) -> str:
        return self.generate_otp(int(when) // self.interval)

    def now(self) -> str:
        return self.at(time.time())
