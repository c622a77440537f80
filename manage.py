#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["preflight"]:
        # The CLI contract needs no Django: skip its set-up (every app, the database layer)
        # and start the first check sooner (checks/cli.py).
        from checks.cli import main

        sys.exit(main(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
