"""Container HEALTHCHECK: GET /health on the local web server; exit 0 when it answers 200.

Python's standard library only, because the slim base image has no curl. The Host header is the
first concrete entry of DJANGO_ALLOWED_HOSTS (Django answers 400 to hosts it does not serve),
and a redirect counts as unhealthy instead of being followed off the container.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from email.message import Message
from typing import IO


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


def probe_host(allowed_hosts: str) -> str:
    """The Host header to send: a host Django accepts, without wildcards."""
    for entry in allowed_hosts.split(","):
        host = entry.strip().lstrip(".")
        if host and "*" not in host:
            return host
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    path = os.environ.get("HEALTHCHECK_PATH", "/health")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={
            "Host": probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", "")),
            # TLS ends at the proxy; say so, as the proxy would, so no HTTPS redirect is due.
            "X-Forwarded-Proto": "https",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "3"))) as r:
            status = r.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {path} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
