#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["preflight"]:
        # The CLI contract needs no Django: skip its set-up (every app, the database layer)
        # and start the first check sooner (checks/cli.py). httpx imports its own command-line
        # client when click, rich and pygments are installed (celery brings click, the test
        # extras the rest): 40-60 ms this process never uses, so that import is refused and
        # httpx falls back to its stub.
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
        from checks.cli import main

        status = main(sys.argv[2:])
        # The verdict is printed and every client closed: leave without the interpreter's
        # tear-down of a few thousand objects (~50 ms of a run's wall time).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
