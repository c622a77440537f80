"""Staging profiles stored in the portal: validated on save, assembled for the engine in
the worker. Secrets are referenced from the TOML as ``*_env`` names and supplied from the
decrypted store, so the TOML text never holds one."""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w
from django.db import transaction

from checks import secrets
from checks.engine.mongo_settings import parse_mongo
from checks.engine.profile import Profile, ProfileError, parse_profile
from checks.models import StagingProfile
from checks.services.schedules import schedule_sync
from portal import audit
from portal.models import AuditEvent, Service

# secret name -> (profile table, the *_env key that points at it)
SECRET_FIELDS = {
    "password": ("auth", "password_env"),
    "otp_secret": ("auth", "otp_secret_env"),
    "repo_token": ("repo", "token_env"),
    "mongo_uri": ("mongo", "uri_env"),
    "hooks_token": ("hooks", "token_env"),  # hook headers use it as ${token}
    "auth_token": ("auth", "token_env"),  # auth.style = "static": the token or API key
    "client_secret": ("auth", "client_secret_env"),  # auth.style = "client_credentials"
}
_LITERAL = {"password", "otp_secret", "token", "client_secret"}


def _env_name(name: str) -> str:
    return f"PREFLIGHT_SECRET_{name.upper()}"


def default_toml(service: Service) -> str:
    base = service.staging_base_url or "https://staging.example.com"
    return tomli_w.dumps(
        {"service": {"name": service.slug, "base_url": base}, "auth": {"username": "probe"}}
    )


def _assemble(text: str, secret_names: list[str]) -> str:
    try:
        return _assemble_data(text, secret_names)
    except RecursionError:
        # tomllib and tomli_w recurse once per level: thousands of nested arrays, tables or
        # dotted keys are bad input, not a server error.
        raise ProfileError("profile", "invalid TOML: nested too deeply") from None


def _assemble_data(text: str, secret_names: list[str]) -> str:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError("profile", f"invalid TOML: {exc}") from None
    auth = data.get("auth", {})
    if isinstance(auth, dict):
        for key in _LITERAL | {f"{k}_env" for k in _LITERAL}:
            if key in auth:
                raise ProfileError(
                    f"auth.{key}", "secrets go in the secret fields (encrypted), not in the TOML"
                )
    repo = data.get("repo", {})
    for key in ("token", "token_env"):
        if isinstance(repo, dict) and key in repo:
            raise ProfileError(
                f"repo.{key}", "secrets go in the secret fields (encrypted), not in the TOML"
            )
    mongo = data.get("mongo", {})
    for key in ("uri", "uri_env"):
        if isinstance(mongo, dict) and key in mongo:
            raise ProfileError(
                f"mongo.{key}", "the URI goes in the secret field (encrypted), not in the TOML"
            )
    hooks = data.get("hooks", {})
    if isinstance(hooks, dict):
        # *_env names would let a profile author read any variable of the worker.
        refused = [k for k in ("token", "token_env") if k in hooks] + [
            f"{name}.headers_env"
            for name, action in hooks.items()
            if isinstance(action, dict) and "headers_env" in action
        ]
        if refused:
            raise ProfileError(
                f"hooks.{refused[0]}",
                "the hooks token goes in the secret field (encrypted); headers use ${token}",
            )
    for name in secret_names:
        table, key = SECRET_FIELDS[name]
        data.setdefault(table, {})[key] = _env_name(name)
    return tomli_w.dumps(data)


def validate(text: str, secret_names: list[str]) -> None:
    """Raise ProfileError naming the bad field; placeholder values stand in for secrets."""
    placeholders = {_env_name(n): "JBSWY3DPEHPK3PXP" for n in secret_names}
    if "mongo_uri" in secret_names:  # the real URI is checked on its own in profile_save
        placeholders[_env_name("mongo_uri")] = "mongodb://placeholder.invalid/"
    assembled = _assemble(text, secret_names)
    try:
        parse_profile(assembled, env=placeholders, check_files=False)
    except RecursionError:
        raise ProfileError("profile", "invalid TOML: nested too deeply") from None


@transaction.atomic
def profile_save(
    *,
    service: Service,
    toml: str,
    new_secrets: dict[str, str],
    clear: list[str],
    actor: Any,
    schedule_enabled: bool = True,
    schedule_cron: str = "0 2 * * *",
) -> StagingProfile:
    """Validate and store a profile. ``new_secrets`` values replace stored ones (blank ones
    keep them); names in ``clear`` are removed. The audit event names what changed, never a
    value."""
    profile = StagingProfile.objects.filter(service=service).first() or StagingProfile(
        service=service
    )
    stored = dict(profile.secrets)
    for name in clear:
        stored.pop(name, None)
    changed_secrets = sorted(name for name, value in new_secrets.items() if value)
    for name in changed_secrets:
        if name not in SECRET_FIELDS:
            raise ProfileError(name, "unknown secret")
        stored[name] = secrets.encrypt(new_secrets[name])
    if new_secrets.get("mongo_uri"):  # its form, with messages that never quote it
        try:
            parse_mongo({"uri_env": "URI"}, {"URI": new_secrets["mongo_uri"]})
        except ProfileError as exc:
            raise ProfileError("mongo_uri", exc.message) from None
    validate(toml, sorted(stored))
    old_toml = profile.toml
    profile.toml = toml
    profile.secrets = stored
    profile.schedule_enabled = schedule_enabled
    profile.schedule_cron = schedule_cron
    profile.save()
    schedule_sync(profile)
    audit.record(
        action=AuditEvent.Action.PROFILE_CHANGED,
        actor=actor,
        service=service,
        payload={
            "toml_changed": old_toml != toml,
            "secrets_set": changed_secrets,
            "secrets_cleared": sorted(clear),
        },
    )
    return profile


def engine_profile(profile: StagingProfile) -> Profile:
    """The engine's Profile with secrets decrypted. Call only where the check runs."""
    env = {_env_name(name): secrets.decrypt(token) for name, token in profile.secrets.items()}
    return parse_profile(_assemble(profile.toml, sorted(profile.secrets)), env=env)
