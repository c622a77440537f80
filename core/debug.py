"""Error reports that never show a secret, with DEBUG on or off.

Django's own filter (``SafeExceptionReporterFilter``) honours ``sensitive_post_parameters`` and
``sensitive_variables`` only when DEBUG is off: with DEBUG on, its debug page prints every
submitted field and every local variable of every frame, so a password or a MongoDB URI
posted to a form that then fails is shown to whoever sees the page. This filter is always on.

It also reads *every* ``sensitive_variables`` mark above a frame, where Django stops at the
nearest one: a view marked "hide everything" that calls ``django.contrib.auth.authenticate``
(marked "hide ``credentials``") would otherwise show the ``password`` argument of the
authentication backend it calls. The views that take secrets mark them
(``checks.views.profile_edit``, the login view in ``app.urls``); settings whose names say KEY,
SECRET, TOKEN, PASS... are hidden as usual.
"""

from __future__ import annotations

import inspect
from collections.abc import ItemsView
from types import FrameType
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

_WRAPPER = "sensitive_variables_wrapper"


def _marks(frame: FrameType | None) -> tuple[bool, set[str]]:
    """(hide everything?, names to hide) from every sensitive_variables mark above ``frame``."""
    names: set[str] = set()
    while frame is not None:
        if frame.f_code.co_name == _WRAPPER and _WRAPPER in frame.f_locals:
            marked = getattr(frame.f_locals[_WRAPPER], "sensitive_variables", None)
            if marked == "__ALL__":
                return True, names
            names.update(marked or ())
        frame = frame.f_back
    return False, names


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: Any) -> bool:
        return True

    def get_traceback_frame_variables(
        self, request: Any, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        if tb_frame.f_code.co_flags & inspect.CO_COROUTINE:
            return super().get_traceback_frame_variables(request, tb_frame)
        everything, names = _marks(tb_frame)
        cleansed = {
            name: self.cleansed_substitute
            if everything or name in names
            else self.cleanse_special_types(request, value)
            for name, value in tb_frame.f_locals.items()
        }
        if tb_frame.f_code.co_name == _WRAPPER and _WRAPPER in tb_frame.f_locals:
            # The decorated function's arguments, as they pass through the decorator.
            cleansed["func_args"] = cleansed["func_kwargs"] = self.cleansed_substitute
        return cleansed.items()
