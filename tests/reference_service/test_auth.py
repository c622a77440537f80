"""Login, scopes, token rejection, refresh rotation, TOTP and the rate limits, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from tests.reference_service.test_contract import assert_error_format
from tests.support.refservice import RunningReferenceService

SECRET = "a-known-test-secret-of-32-bytes!"
Factory = Callable[..., RunningReferenceService]


def test_login_issues_a_short_lived_jwt_with_scope_sid_and_jti(
    reference_service: RunningReferenceService,
) -> None:
    tokens = reference_service.login()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "probe" and claims["scope"] == "items:read items:write"
    assert claims["sid"] and claims["jti"]
    assert 0 < claims["exp"] - time.time() <= 900


def test_bad_credentials_and_bad_scopes_are_refused(
    reference_service: RunningReferenceService,
) -> None:
    with reference_service.client() as client:
        wrong = client.post("/auth/login", json={"username": "probe", "password": "nope"})
        assert assert_error_format(wrong, 401)["code"] == "invalid_credentials"
        body = {"username": "probe", "password": reference_service.password, "scope": "admin"}
        assert assert_error_format(client.post("/auth/login", json=body), 400)["code"] == (
            "invalid_scope"
        )


def test_garbage_and_expired_tokens_get_401(reference_service_factory: Factory) -> None:
    service = reference_service_factory(jwt_secret=SECRET)
    expired = jwt.encode(
        {
            "sub": "probe",
            "scope": "items:read",
            "sid": "s",
            "jti": "j",
            "typ": "access",
            "exp": int(time.time()) - 5,
        },
        SECRET,
        algorithm="HS256",
    )
    forged = jwt.encode({"sub": "probe", "scope": "items:read"}, "x" * 32, algorithm="HS256")
    with service.client() as client:
        for token, code in (
            ("garbage", "invalid_token"),
            (expired, "token_expired"),
            (forged, "invalid_token"),
        ):
            response = client.get("/items", headers={"Authorization": f"Bearer {token}"})
            assert assert_error_format(response, 401)["code"] == code
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_carries_only_the_requested_scope(
    reference_service: RunningReferenceService,
) -> None:
    read_only = reference_service.auth_headers(scope="items:read")
    with reference_service.client() as client:
        assert client.get("/items", headers=read_only).status_code == 200
        denied = client.post("/items", json={"name": "x"}, headers=read_only)
        assert assert_error_format(denied, 403)["details"] == {
            "required": "items:write",
            "granted": ["items:read"],
        }


def test_refresh_tokens_rotate_and_a_reused_one_is_refused(
    reference_service: RunningReferenceService,
) -> None:
    first = reference_service.login()
    with reference_service.client() as client:
        second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        pair = second.json()
        assert pair["refresh_token"] != first["refresh_token"]
        assert (
            client.get(
                "/items", headers={"Authorization": f"Bearer {pair['access_token']}"}
            ).status_code
            == 200
        )
        reused = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert assert_error_format(reused, 401)["code"] == "refresh_token_reused"
        # The new refresh token still works once.
        assert (
            client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code
            == 200
        )
        unknown = client.post("/auth/refresh", json={"refresh_token": "made-up"})
        assert_error_format(unknown, 401)


def test_otp_accepts_a_valid_code_once_and_refuses_invalid_and_older_codes(
    reference_service: RunningReferenceService,
) -> None:
    totp = reference_service.totp()
    now = time.time()
    # A session of its own: these five attempts are exactly the default per-session limit.
    headers = {"Authorization": f"Bearer {reference_service.login()['access_token']}"}
    with reference_service.client(headers=headers) as client:
        current = totp.at(now)
        wrong = str((int(current) + 1) % 1_000_000).zfill(6)
        assert (
            assert_error_format(client.post("/auth/otp/verify", json={"code": wrong}), 401)["code"]
            == "invalid_code"
        )
        assert client.post("/auth/otp/verify", json={"code": current}).status_code == 200
        replay = client.post("/auth/otp/verify", json={"code": current})
        assert assert_error_format(replay, 401)["code"] == "code_reused"
        # A second run in the same window uses the next step's code (valid_window=1) ...
        assert client.post("/auth/otp/verify", json={"code": totp.at(now + 30)}).status_code == 200
        # ... after which the current step's code counts as used too.
        assert client.post("/auth/otp/verify", json={"code": current}).status_code == 401


def test_otp_needs_a_bearer_token(reference_service: RunningReferenceService) -> None:
    with reference_service.client() as client:
        response = client.post("/auth/otp/verify", json={"code": "123456"})
        assert_error_format(response, 401)


def test_login_is_rate_limited_per_username_and_address(reference_service_factory: Factory) -> None:
    service = reference_service_factory(login_limit=3)
    with service.client() as client:
        attempts = [
            client.post("/auth/login", json={"username": "random-user", "password": "x"})
            for _ in range(4)
        ]
        assert [r.status_code for r in attempts] == [401, 401, 401, 429]
        error = assert_error_format(attempts[-1], 429)
        assert error["code"] == "rate_limited"
        assert 1 <= int(attempts[-1].headers["Retry-After"]) <= 60
        # Another username from the same address is not locked out by the probe above.
        good = client.post("/auth/login", json={"username": "probe", "password": service.password})
        assert good.status_code == 200
        assert 'rate_limit_rejections_total{limit="login"} 1.0' in client.get("/metrics").text


def test_otp_attempts_are_rate_limited_per_session(reference_service_factory: Factory) -> None:
    service = reference_service_factory(otp_limit=2)
    first_session = {"Authorization": f"Bearer {service.login()['access_token']}"}
    with service.client() as client:
        codes = [
            client.post("/auth/otp/verify", json={"code": "abc"}, headers=first_session)
            for _ in range(3)
        ]
        assert [r.status_code for r in codes] == [401, 401, 429]
        assert int(codes[-1].headers["Retry-After"]) >= 1
        fresh = {"Authorization": f"Bearer {service.login()['access_token']}"}
        valid = client.post("/auth/otp/verify", json={"code": service.totp().now()}, headers=fresh)
        assert valid.status_code == 200


@pytest.mark.parametrize("limit_env", ["7", "7/minute"])
def test_limits_are_read_from_the_environment(limit_env: str) -> None:
    from examples.reference_service import RefConfig

    env = {"REF_PROBE_PASSWORD": "pw", "REF_OTP_SECRET": "JBSWY3DPEHPK3PXP"}
    config = RefConfig.from_env({**env, "REF_LOGIN_LIMIT": limit_env, "REF_FLAWS": "otp_reuse"})
    assert config.login_limit == 7 and config.flaws == frozenset({"otp_reuse"})
    assert config.otp_limit == 5 and config.access_ttl == 900 and config.drill_token is None
