"""Serve an ASGI app on a free loopback port and announce the port on stdout.

The process binds port 0 itself and prints ``PORT <n>`` once it listens, so the parent never
races another process for a port it picked.
"""

from __future__ import annotations

import socket
import sys

import uvicorn


def serve(app: object) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
        )
    )
    sys.stdout.write(f"PORT {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    server.run(sockets=[sock])
