import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo import load_demo
from portal.models import ChecklistTemplate


class Command(BaseCommand):
    help = (
        "Create demo data: teams Payments and Search, users lead/reviewer/reviewer2/admin/"
        "outsider with generated passwords (printed once and kept in var/demo-logins.txt, mode "
        "600), two services whose staging is the reference services on 127.0.0.1 at "
        "REF_HEALTHY_PORT (8101) and REF_FLAWED_PORT (8102)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        template = ChecklistTemplate.objects.order_by("-version").first()
        if template is None:
            raise CommandError("no checklist template: run `manage.py import_template` first")
        ports = {
            "orders": os.environ.get("REF_HEALTHY_PORT", "8101"),
            "inventory": os.environ.get("REF_FLAWED_PORT", "8102"),
        }
        for slug, port in ports.items():
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise CommandError(f"{slug}'s reference service port is not a port: {port!r}")
        created = load_demo(
            template=template,
            staging={slug: f"http://127.0.0.1:{port}" for slug, port in ports.items()},
        )
        logins_file = Path(settings.VAR_DIR) / "demo-logins.txt"
        if created:
            logins_file.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"{login.username:10} {login.password:20} {login.role}" for login in created]
            fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write("\n".join(lines) + "\n")
            self.stdout.write("Demo logins (username, password, role):")
            for line in lines:
                self.stdout.write(f"  {line}")
        else:
            self.stdout.write(f"Demo data already present; logins are in {logins_file}")
