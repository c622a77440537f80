"""Who did something: a person (a user id) or Preflight itself (the system actor).

The system actor has no user id: an audit event with no ``actor_id`` is the system's, and
pages show it as such by that id, never by the name. The name ``preflight-system`` is still
written into those events for people reading raw rows, so no account may carry it or anything
that looks like it: ``Preflight-System``, ``preflight_system``, Cyrillic or full-width
look-alikes, ``pref1ight-systern``... The guard is a validator on the username field (the
admin's forms and ``createsuperuser`` show it as a field error) and a ``pre_save`` check on the
user model (every other way to create or rename an account: demo data, the shell, a future
single sign-on provisioning), both installed by ``PortalConfig.ready()``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from confusable_homoglyphs import confusables
from django.core.exceptions import ValidationError
from django.db.models.signals import pre_save

SYSTEM_ACTOR_NAME = "preflight-system"
RESERVED_MESSAGE = (
    f"This username is reserved: it looks like {SYSTEM_ACTOR_NAME!r}, Preflight itself."
)
_ASCII_LOOKALIKES = str.maketrans({"1": "l", "i": "l", "|": "l", "0": "o"})


def _ascii_prototype(char: str, found: dict[str, list[dict[str, str]]]) -> str:
    for glyph in found.get(char, []):
        candidate = glyph["c"].replace("\u200e", "")  # the data wraps RTL glyphs in LRM marks
        if candidate and candidate.isascii():
            return candidate
    return char


def username_skeleton(name: str) -> str:
    """A form of ``name`` under which look-alikes compare equal (after UTS #39's skeleton,
    folded further for usernames): compatibility forms folded (NFKC: full-width, ligatures,
    mathematical letters), each non-ASCII character replaced by the ASCII character it is
    confusable with, accents, case, separators and invisible characters dropped, and the ASCII
    look-alikes ``1 i | -> l``, ``0 -> o``, ``rn -> m`` merged."""
    text = unicodedata.normalize("NFKC", name)
    found = {
        entry["character"]: entry["homoglyphs"]
        for entry in (confusables.is_confusable(text, greedy=True) or [])
        if not entry["character"].isascii()
    }
    text = "".join(c if c.isascii() else _ascii_prototype(c, found) for c in text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = "".join(c for c in text if c.isalnum())
    return text.replace("rn", "m").translate(_ASCII_LOOKALIKES)


_RESERVED = frozenset({username_skeleton(SYSTEM_ACTOR_NAME)})


def is_reserved_username(name: str) -> bool:
    return username_skeleton(name) in _RESERVED


def validate_username_not_reserved(value: str) -> None:
    """A field validator (forms, ``full_clean``, ``createsuperuser``)."""
    if isinstance(value, str) and is_reserved_username(value):
        raise ValidationError(RESERVED_MESSAGE, code="reserved")


def refuse_reserved_username(
    sender: Any, instance: Any, update_fields: Any = None, **_: Any
) -> None:
    """``pre_save`` of the user model: no account is created or renamed under a reserved
    name, whichever code path saves it. An account that already had the name before this
    guard existed may still be saved (its last login, say); it is shown as a person anyway."""
    if update_fields is not None and sender.USERNAME_FIELD not in update_fields:
        return
    name = instance.get_username()
    if not is_reserved_username(name):
        return
    if (
        instance.pk is not None
        and sender._default_manager.filter(pk=instance.pk, **{sender.USERNAME_FIELD: name}).exists()
    ):
        return
    raise ValidationError({sender.USERNAME_FIELD: RESERVED_MESSAGE}, code="reserved")


def install_guards(user_model: Any) -> None:
    """Called once from ``PortalConfig.ready()``."""
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    # The cached list the field runs, not the constructor's (which migrations would see).
    if validate_username_not_reserved not in field.validators:
        field.validators.append(validate_username_not_reserved)
    pre_save.connect(
        refuse_reserved_username, sender=user_model, dispatch_uid="portal.reserved_usernames"
    )
