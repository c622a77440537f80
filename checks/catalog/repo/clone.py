"""One read-only shallow clone of the service's repository per run, shared by the repo checks.

Git runs as a subprocess with a scrubbed environment: no system/global config, no credential
helpers, no prompts, no hooks, no proxies from the environment, redirects off, only the one
protocol the URL names, and symlinks checked out as plain files (so reading the tree can never
follow a link out of it). The git host is judged by the run's DestinationPolicy *before* git
starts, and the address judged is pinned (``http.curloptResolve`` / ssh ``HostName``) so a
second DNS answer cannot steer git elsewhere.

Size cap: the clone directory is measured while git runs (the incoming pack grows on disk as
it arrives) and git is killed once it passes ``repo.max_bytes``; the finished clone (objects +
checkout) is measured again. ``--filter=blob:limit`` was rejected: it needs server support,
and a depth-1 checkout lazily fetches the filtered blobs anyway, so it bounds nothing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpcore

from checks.engine.http import DestinationPolicy, DestinationRefused, system_resolver
from checks.engine.outcome import MissingSetting
from checks.engine.repo_settings import RepoSettings, repo_url_parts
from checks.engine.target import Target

_SHARED_KEY = "repo.clone"
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}
MAX_READ_BYTES = 1024 * 1024  # files parsed by the checks (Dockerfile, CI, manifests)


class RepoUnavailable(Exception):
    """The repository could not be cloned or read; the checks answer ``error``."""

    def __init__(self, summary: str, **evidence: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence


@dataclass(frozen=True)
class Repo:
    """A finished clone. Paths given out and taken in are POSIX, relative to the root."""

    root: Path
    subdir: str | None
    source: str
    commit: str
    tracked: tuple[str, ...] = field(repr=False)

    def under_base(self, rel: str) -> str:
        """``rel`` (relative to ``repo.subdir``) as a path relative to the root."""
        return f"{self.subdir}/{rel}" if self.subdir else rel

    def is_tracked(self, rel: str) -> bool:
        return rel in self._tracked_set

    @cached_property
    def _tracked_set(self) -> frozenset[str]:
        return frozenset(self.tracked)

    def read_text(self, rel: str, limit: int = MAX_READ_BYTES) -> str | None:
        """The text of a regular file in the clone, or None (absent, too big, binary)."""
        path = self.root / rel
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
                return None
            return path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class _Failure:
    summary: str
    evidence: dict[str, Any]


def repo_of(t: Target) -> Repo:
    """The run's clone, made on first use. Raises MissingSetting without ``[repo]`` and
    RepoUnavailable when the clone failed (every repo check then reports the same error)."""
    settings = t.profile.repo
    if not settings.configured:
        raise MissingSetting("repo.url", "no [repo] url or path in the profile")
    result = t.shared(_SHARED_KEY, lambda: _clone_for(t))
    if isinstance(result, _Failure):
        raise RepoUnavailable(result.summary, **result.evidence)
    return result


def _clone_for(t: Target) -> Repo | _Failure:
    workdir = Path(tempfile.mkdtemp(prefix="preflight-repo-"))
    cloner = Cloner(t.profile.repo, t.policy, workdir)
    t.on_close(cloner.close)
    try:
        return cloner.run()
    except RepoUnavailable as exc:
        return _Failure(exc.summary, exc.evidence)


def mib(size: int) -> str:
    return f"{size / 2**20:.2f}".rstrip("0").rstrip(".") + " MiB"


def directory_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # git renames temp files as it goes
                continue
    return total


class Cloner:
    """Runs git for one clone into ``workdir``; ``close()`` kills git and removes it all."""

    def __init__(self, settings: RepoSettings, policy: DestinationPolicy, workdir: Path) -> None:
        self.settings = settings
        self.policy = policy
        self.workdir = workdir
        self.dest = workdir / "clone"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    # --- source and policy ---

    def _source(self) -> tuple[str, str]:
        """(url for git, scheme); local sources only when the policy allows them."""
        s = self.settings
        if s.path is not None:
            if not self.policy.allow_local_repos:
                raise RepoUnavailable(
                    "refused: local repositories are not allowed here "
                    "(PREFLIGHT_ALLOW_LOCAL_REPOS is off)",
                    source=str(s.path),
                )
            if not s.path.is_dir():
                raise RepoUnavailable(f"repository path not found: {s.path}", source=str(s.path))
            # file:// so that --depth applies (git ignores it for plain local paths).
            return s.path.resolve().as_uri(), "file"
        assert s.url is not None
        scheme = repo_url_parts(s.url)[0]
        if scheme == "file" and not self.policy.allow_local_repos:
            raise RepoUnavailable(
                "refused: local repositories are not allowed here "
                "(PREFLIGHT_ALLOW_LOCAL_REPOS is off)",
                source=s.url,
            )
        return s.url, scheme

    def _pin(self, url: str, scheme: str) -> list[str]:
        """Judge the git host by the policy and pin the judged address; ``-c`` options."""
        if scheme == "file":
            return []
        _scheme, _user, host, port = repo_url_parts(url)
        port = port or _DEFAULT_PORTS[scheme]
        try:
            address = self.policy.check_host(host, port, system_resolver)
        except DestinationRefused as exc:
            raise RepoUnavailable(
                str(exc), host=exc.host, address=exc.address, reason=exc.reason
            ) from None
        except (httpcore.ConnectError, OSError) as exc:
            raise RepoUnavailable(f"cannot reach the git host: {exc}", host=host) from None
        shown = f"[{address}]" if address.version == 6 else str(address)
        if scheme in ("https", "http"):
            return ["-c", f"http.curloptResolve={host}:{port}:{shown}"]
        ssh = (
            f"ssh -o BatchMode=yes -o HostName={address} -o HostKeyAlias={host} "
            "-o ProxyCommand=none -o ProxyJump=none -o PermitLocalCommand=no "
            f"-o ConnectTimeout={int(self.settings.timeout_s)}"
        )
        return ["-c", f"core.sshCommand={ssh}"]

    # --- running git ---

    def _env(self, scheme: str) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C",
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ALLOW_PROTOCOL": scheme,
            "GIT_LFS_SKIP_SMUDGE": "1",
        }
        token = self.settings.token
        if token is not None:
            # In the environment (readable only by this user), never in argv (ps shows argv).
            user = repo_url_parts(self.settings.url or "")[1] or "x-access-token"
            basic = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        return env

    def _git_base(self, scheme: str, pin: list[str]) -> list[str]:
        return [
            "git",
            *("-c", "core.hooksPath=/dev/null"),
            *("-c", "credential.helper="),
            *("-c", "protocol.allow=never"),
            *("-c", f"protocol.{scheme}.allow=always"),
            *("-c", "protocol.file.allow=" + ("always" if scheme == "file" else "never")),
            *("-c", "http.followRedirects=false"),
            *("-c", "core.symlinks=false"),
            *("-c", "core.fsmonitor=false"),
            *("-c", "submodule.recurse=false"),
            *("-c", "advice.detachedHead=false"),
            *pin,
        ]

    def _run(self, argv: list[str], env: dict[str, str], deadline: float, what: str) -> None:
        """Run git, watching the clone's size and the deadline; raise RepoUnavailable."""
        log = self.workdir / "git-stderr.log"
        with self._lock:
            if self._closed:
                raise RepoUnavailable("the run ended before the clone finished")
            with log.open("wb") as stderr:
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    env=env,
                    cwd=self.workdir,
                    start_new_session=True,  # so a kill reaches git's helpers (remote-https)
                )
        process = self._process
        pause = 0.02
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise RepoUnavailable(
                        f"git {what} timed out after {self.settings.timeout_s:g}s",
                        source=self._shown_source(),
                    )
                self._check_size()
                time.sleep(pause)
                pause = min(pause * 1.5, 0.25)  # walking a big tree often costs too much
        finally:
            self._kill()
        self._check_size()
        if process.returncode != 0:
            raise RepoUnavailable(
                f"git {what} failed: {self._stderr_tail(log)}", source=self._shown_source()
            )

    def _check_size(self) -> None:
        if self.dest.exists() and directory_size(self.dest) > self.settings.max_bytes:
            self._kill()
            limit = self.settings.max_bytes
            raise RepoUnavailable(
                f"refused: larger than {mib(limit)}",
                max_bytes=limit,
                source=self._shown_source(),
                fix="raise repo.max_bytes, or point repo.url at a smaller repository",
            )

    def _stderr_tail(self, log: Path) -> str:
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "no message"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        tail = " / ".join(lines[-2:])[:400] or "no message"
        if self.settings.token:
            tail = tail.replace(self.settings.token, "***")
        return tail

    def _shown_source(self) -> str:
        return str(self.settings.path) if self.settings.path is not None else str(self.settings.url)

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def _output(self, argv: list[str], env: dict[str, str]) -> bytes:
        done = subprocess.run(
            argv, env=env, cwd=self.dest, capture_output=True, timeout=30, check=False
        )
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()[:300]
            raise RepoUnavailable(f"git {argv[-1]} failed: {message}")
        return done.stdout

    # --- the clone ---

    def run(self) -> Repo:
        s = self.settings
        url, scheme = self._source()
        pin = self._pin(url, scheme)
        env = self._env(scheme)
        git = self._git_base(scheme, pin)
        deadline = time.monotonic() + s.timeout_s
        if s.ref is not None and _COMMIT.match(s.ref):
            # --branch takes names only; a commit is fetched by id into an empty repository.
            self._run([*git, "init", "-q", "--template=", str(self.dest)], env, deadline, "init")
            fetch = ["fetch", "-q", "--depth", "1", "--no-tags", "--", url, s.ref]
            self._run([*git, "-C", str(self.dest), *fetch], env, deadline, "fetch")
            checkout = ["checkout", "-q", "--detach", "FETCH_HEAD"]
            self._run([*git, "-C", str(self.dest), *checkout], env, deadline, "checkout")
        else:
            clone = ["clone", "-q", "--depth", "1", "--single-branch", "--no-tags", "--template="]
            if s.ref is not None:
                clone += ["--branch", s.ref]
            self._run([*git, *clone, "--", url, str(self.dest)], env, deadline, "clone")
        commit = self._output([*git, "rev-parse", "HEAD"], env).decode().strip()
        listed = self._output([*git, "ls-files", "-z"], env).decode("utf-8", "replace")
        tracked = tuple(sorted(p for p in listed.split("\0") if p))
        if s.subdir is not None and not (self.dest / s.subdir).is_dir():
            raise RepoUnavailable(
                f"repo.subdir {s.subdir!r} is not a directory in the repository",
                commit=commit,
            )
        return Repo(self.dest, s.subdir, self._shown_source(), commit, tracked)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
