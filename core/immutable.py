"""Rows written once and never changed (the audit chain, review decisions): a queryset whose
``update()``/``delete()`` raise and a model base whose ``save()`` of an existing row and
``delete()`` raise. Each model names the error it raises and why."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db import models

_M = TypeVar("_M", bound=models.Model)


class ImmutableError(Exception):
    """Raised on any attempt to change or remove an immutable row through the ORM."""


class ImmutableQuerySet(models.QuerySet[_M]):
    error: ClassVar[type[Exception]] = ImmutableError
    message: ClassVar[str] = "these rows are immutable"

    def update(self, **kwargs: Any) -> int:
        raise self.error(self.message)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise self.error(self.message)


class ImmutableModel(models.Model):
    """Insert only. Pair it with an ``ImmutableQuerySet`` manager with the same error."""

    immutable_error: ClassVar[type[Exception]] = ImmutableError
    immutable_message: ClassVar[str] = "these rows are immutable"

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise self.immutable_error(self.immutable_message)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise self.immutable_error(self.immutable_message)
