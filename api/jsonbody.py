"""Every JSON document the API reads (request bodies through django-ninja's parser, and the
cursors it issued) goes through ``loads``: a 400 in the error format instead of a 500 for

- nesting deeper than MAX_DEPTH (a 100,000-deep array made json.loads raise RecursionError;
  no body of this API nests more than a few levels);
- strings holding a lone UTF-16 surrogate: ``"\\ud800"`` is valid JSON but not Unicode, so
  encoding it fails wherever it goes (django-axes' log line, the database driver). I-JSON
  (RFC 7493) forbids them. (NUL, which PostgreSQL cannot store, is refused field by field by
  the schemas, so that a 400 names every bad field at once.)"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from api.errors import ApiError

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def _too_deep() -> ApiError:
    return ApiError(
        400,
        "invalid_json",
        f"The JSON nests deeper than {MAX_DEPTH} levels.",
        {"max_depth": MAX_DEPTH},
    )


def _unstorable(where: str) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        "The request is not valid: a string holds a lone surrogate (not Unicode).",
        [{"field": where, "message": f"{where or 'the body'} holds a lone surrogate"}],
    )


def _inspect(data: Any) -> None:
    """Depth and strings, walked without recursion (the document may be deep)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise _unstorable(where)
        elif isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                if _SURROGATE.search(key):
                    raise _unstorable(path)
                stack.append((item, depth + 1, path))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            stack.extend((item, depth + 1, f"{where}[{n}]") for n, item in enumerate(value))


def loads(raw: bytes | str) -> Any:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    _inspect(data)
    return data


class GuardedParser(Parser):
    """django-ninja's JSON parser with the guards above, for every body of the API."""

    def parse_body(self, request: HttpRequest) -> Any:
        return loads(request.body)
