"""manage.py api_token create --name N --scopes read,facts:write [--team SLUG] [--days N]
manage.py api_token revoke --name N
manage.py api_token list"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import services
from api.models import ApiToken
from core.errors import DomainError
from portal.models import Team


class Command(BaseCommand):
    help = "Create (shown once), revoke or list API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("--name", required=True)
        create.add_argument("--scopes", required=True, help=", ".join(services.SCOPES))
        create.add_argument("--team", help="limit write scopes to this team's services")
        create.add_argument("--days", type=int, help="expire after N days")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("--name", required=True)
        sub.add_parser("list")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as error:
            raise CommandError(str(error)) from None

    def _create(self, options: dict[str, Any]) -> None:
        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"no team {options['team']!r}")
        new = services.token_create(
            name=options["name"],
            scopes=services.parse_scopes(options["scopes"]),
            team=team,
            days=options["days"],
        )
        self.stderr.write(f"token {new.token.name} ({', '.join(new.token.scopes)}): shown once")
        self.stdout.write(new.secret)

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(name=options["name"]).first()
        if token is None:
            raise CommandError(f"no token named {options['name']!r}")
        services.token_revoke(token=token)
        self.stdout.write(f"revoked {token.name}")

    def _list(self, options: dict[str, Any]) -> None:
        for token in ApiToken.objects.all():
            state = "active" if token.active else "inactive"
            self.stdout.write(f"{token.name}\t{token.prefix}…\t{','.join(token.scopes)}\t{state}")
