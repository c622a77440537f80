"""The load drill's traffic: Locust users over the reference API's representative mix.

Run only by checks/engine/locust_runner.py as a ``locust`` subprocess (never imported: Locust
monkey-patches the process with gevent). Settings come from PREFLIGHT_LOAD_* variables or
the matching ``--preflight-*`` options; a Locust master forwards them to its workers, so the
same file serves a distributed run (README, "Drills").
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--preflight-rate-per-user",
        type=float,
        env_var="PREFLIGHT_LOAD_RATE_PER_USER",
        default=1.0,
        help="requests a second each user sends",
    )
    parser.add_argument(
        "--preflight-items-path", env_var="PREFLIGHT_LOAD_ITEMS_PATH", default="/items"
    )
    parser.add_argument(
        "--preflight-token",
        env_var="PREFLIGHT_LOAD_TOKEN",
        default="",
        include_in_web_ui=False,
        help="bearer token (from the environment: never put it on a command line)",
    )


class ApiUser(FastHttpUser):
    """One client: lists, reads (the cache's hot path) and creates, paced to a fixed rate."""

    ids: list[str]

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.pace = constant_throughput(float(options.preflight_rate_per_user))
        self.items = str(options.preflight_items_path).rstrip("/")
        self.auth = {"Authorization": f"Bearer {options.preflight_token}"}
        self.ids = []
        self.create()

    def wait_time(self) -> float:
        return float(self.pace(self))

    @task(4)
    def list_items(self) -> None:
        self.client.get(f"{self.items}?limit=20", headers=self.auth, name=f"GET {self.items}")

    @task(4)
    def read_item(self) -> None:
        if not self.ids:
            self.list_items()
            return
        item = random.choice(self.ids)  # noqa: S311 - traffic shape, not security
        self.client.get(f"{self.items}/{item}", headers=self.auth, name=f"GET {self.items}/{{id}}")

    @task(2)
    def create(self) -> None:
        body = {"name": f"preflight-load-{secrets.token_hex(4)}", "tags": ["preflight-load"]}
        with self.client.post(
            self.items, json=body, headers=self.auth, name=f"POST {self.items}", catch_response=True
        ) as response:
            if response.status_code == 201:
                self.ids = [*self.ids[-19:], str(response.json().get("id"))]
                response.success()
            else:
                response.failure(f"status {response.status_code}")
