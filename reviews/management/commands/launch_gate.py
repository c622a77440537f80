"""manage.py launch_gate SLUG [--url URL --token-env VAR]

Exit 0 only when the service may ship (its latest launch review is approved and the gate
still holds, or every failing rule has an approved, unexpired exemption); 1 when it may not;
2 when the answer could not be obtained. Prints the reasons either way.

Local mode (default) reads this portal's database. Remote mode asks a portal's API
(GET /api/v1/services/SLUG/launch) through the guarded HTTP client, with the bearer token
taken from the environment variable --token-env (default PREFLIGHT_API_TOKEN)."""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
from django.core.management.base import BaseCommand, CommandParser

from checks.engine import DestinationRefused, shared_client
from checks.selectors import outbound_policy
from portal.models import Service
from reviews.selectors import launch_dict, launch_status

SHIP, HOLD, UNKNOWN = 0, 1, 2


class Command(BaseCommand):
    help = "Exit 0 only when SLUG may ship; print the reasons."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--url", help="a portal's base URL (remote mode)")
        parser.add_argument("--token-env", default="PREFLIGHT_API_TOKEN")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["url"]:
            answer = self._remote(options["url"], options["slug"], options["token_env"])
        else:
            service = Service.objects.filter(slug=options["slug"]).first()
            if service is None:
                self.stderr.write(f"no service {options['slug']!r}")
                sys.exit(UNKNOWN)
            answer = launch_dict(launch_status(service))
        approved = answer.get("approved") is True
        self.stdout.write(f"{options['slug']}: {'may ship' if approved else 'may NOT ship'}")
        for reason in answer.get("reasons", []):
            self.stdout.write(f"- {reason}")
        sys.exit(SHIP if approved else HOLD)

    def _remote(self, url: str, slug: str, token_env: str) -> dict[str, Any]:
        token = os.environ.get(token_env, "")
        if not token:
            self.stderr.write(f"set {token_env} to an API token with the read scope")
            sys.exit(UNKNOWN)
        endpoint = f"{url.rstrip('/')}/api/v1/services/{quote(slug, safe='')}/launch"
        try:
            response = shared_client(outbound_policy(), timeout=15.0).get(
                endpoint, headers={"Authorization": f"Bearer {token}"}
            )
            body = response.json()
        except (DestinationRefused, httpx.HTTPError, ValueError) as exc:
            self.stderr.write(f"could not ask {endpoint}: {exc}")
            sys.exit(UNKNOWN)
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            self.stderr.write(f"{endpoint} answered {response.status_code}: {error}")
            sys.exit(UNKNOWN)
        return body
