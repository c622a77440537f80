"""Ctrl-C ends `make run` with exit 0. make shares the terminal's process group with its
recipe, so an interrupt typed there reaches make too, and make then dies of SIGINT (130)
whatever the script returns — unless the script takes the foreground group for itself.

A real make in a real pseudo-terminal, with scripts/run.py's `main` and a stand-in for the
portal's processes (one child in its own process group), since starting the whole portal
takes most of a minute."""

from __future__ import annotations

import contextlib
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


def _start_make_run(tmp_path: Path) -> tuple[int, int, int]:
    """`make run` (the stand-in) as the session leader of a new pseudo-terminal; returns
    make's pid, the terminal's master end and the pid of the script's child."""
    (tmp_path / "demo.py").write_text(SCRIPT.format(scripts=str(ROOT / "scripts")))
    (tmp_path / "Makefile").write_text(f"run:\n\t{sys.executable} {tmp_path / 'demo.py'}\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        os.chdir(tmp_path)
        os.environ["PREFLIGHT_VAR_DIR"] = str(tmp_path / "var")
        os.execvp("make", ["make", "--no-print-directory", "run"])
    out = _read_until(fd, b"up ", 20)
    out += _read_until(fd, b"\n", 2) if b"\n" not in out.split(b"up ")[-1] else b""
    assert b"up " in out, out
    return pid, fd, int(out.split(b"up ")[1].split()[0])


def _wait(pid: int, fd: int | None, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        if fd is None:
            time.sleep(0.2)
        else:
            _read_until(fd, b"\0", 0.2)  # keep draining the terminal
    return done


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ctrl_c_in_the_terminal_ends_make_run_with_exit_0(tmp_path: Path) -> None:
    pid, fd, child = _start_make_run(tmp_path)
    try:
        os.write(fd, b"\x03")  # what the terminal sends for Ctrl-C
        out = _read_until(fd, b"Stopping", 10)
        done = _wait(pid, fd, 20)
        assert done[0] == pid, "make did not end after Ctrl-C"
        assert os.waitstatus_to_exitcode(done[1]) == 0, out
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # the script stopped its child
    finally:
        _kill(pid)
        os.close(fd)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_closing_the_terminal_stops_make_run_and_its_children(tmp_path: Path) -> None:
    """The window closes: the terminal hangs up. The kernel signals the session leader (here
    make, in a desktop terminal the shell, which passes SIGHUP on to make's group), not the
    script's own foreground group, and make then waits for the script. The script notices
    the hang-up itself, stops its children and ends, and make with it."""
    pid, fd, child = _start_make_run(tmp_path)
    try:
        os.close(fd)  # the terminal window closes
        done = _wait(pid, None, 20)
        assert done[0] == pid, "make did not end after the terminal hung up"
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # no child left running
    finally:
        _kill(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, 9)
