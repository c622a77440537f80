"""Ctrl-C ends `make run` with exit 0. make shares the terminal's process group with its
recipe, so an interrupt typed there reaches make too, and make then dies of SIGINT (130)
whatever the script returns — unless the script takes the foreground group for itself.

A real make in a real pseudo-terminal, with scripts/run.py's `main` and a stand-in for the
portal's processes (one child in its own process group), since starting the whole portal
takes most of a minute."""

from __future__ import annotations

import os
import pty
import select
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import subprocess, sys, time
sys.path.insert(0, {scripts!r})
import run

def serve(procs, optional):
    procs["child"] = subprocess.Popen(["sleep", "60"], process_group=0)
    print("up", procs["child"].pid, flush=True)
    while True:
        time.sleep(0.2)

run.serve = serve
sys.exit(run.main())
"""


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen, until = b"", time.monotonic() + timeout
    while needle not in seen and time.monotonic() < until:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ctrl_c_in_the_terminal_ends_make_run_with_exit_0(tmp_path: Path) -> None:
    (tmp_path / "demo.py").write_text(SCRIPT.format(scripts=str(ROOT / "scripts")))
    (tmp_path / "Makefile").write_text(f"run:\n\t{sys.executable} {tmp_path / 'demo.py'}\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        os.chdir(tmp_path)
        os.environ["PREFLIGHT_VAR_DIR"] = str(tmp_path / "var")
        os.execvp("make", ["make", "--no-print-directory", "run"])
    try:
        out = _read_until(fd, b"up ", 20)
        out += _read_until(fd, b"\n", 2) if b"\n" not in out.split(b"up ")[-1] else b""
        assert b"up " in out, out
        child = int(out.split(b"up ")[1].split()[0])
        os.write(fd, b"\x03")  # what the terminal sends for Ctrl-C
        out += _read_until(fd, b"Stopping", 10)
        deadline = time.monotonic() + 20
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            _read_until(fd, b"\0", 0.2)  # keep draining the terminal
        assert done[0] == pid, "make did not end after Ctrl-C"
        assert os.waitstatus_to_exitcode(done[1]) == 0, out
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # the script stopped its child
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
