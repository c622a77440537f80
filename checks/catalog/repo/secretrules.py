"""What a secret scan leaves out, what it dismisses, and how serious a finding is.

Three decisions live here, apart from the scan itself:
- *scope*: files a team keeps fake credentials in on purpose (tests, fixtures, docs, lock
  files) are left out unless ``repo.secrets_include`` names their category
  (``checks.engine.repo_settings.SECRET_SCOPES``);
- *placeholders*: values that say they are not a secret (``changeme``, ``<your-key>``,
  ``${VAR}``, ``...EXAMPLE``, ``postgres:postgres@``) are dismissed everywhere;
- *severity*: private keys, cloud keys and connection strings with a password come before
  tokens, which come before passwords in code, which come before bare high-entropy strings.

Migration revision ids (Alembic's ``revision = "ae1027a6acf"``) look like hex secrets; the
lines that carry them are dismissed unless ``migration_ids`` is included.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_LOCK_FILES = {
    *("poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "pylock.toml"),
    *("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock"),
    *("Cargo.lock", "go.sum", "Gemfile.lock", "composer.lock", "packages.lock.json"),
    *("flake.lock", ".terraform.lock.hcl", "mix.lock", "pubspec.lock", "Podfile.lock"),
}
_FIXTURE_DIRS = {
    *("fixtures", "fixture", "__fixtures__", "testdata", "test_data", "test-data"),
    *("__mocks__", "mocks", "__snapshots__", "snapshots", "cassettes", "vcr_cassettes"),
}
_TEST_DIRS = {"test", "tests", "testing", "__tests__", "spec", "specs", "e2e", "it"}
_TEST_FILES = re.compile(
    r"^(test_.*\.py|.*_test\.(py|go|rb|exs?)|conftest\.py|tests?\.py|"
    r".*\.(test|spec)\.(js|jsx|ts|tsx|mjs|cjs)|.*(Test|Tests|Spec)\.(java|kt|cs|scala))$"
)
_DOC_DIRS = {"docs", "doc", "documentation", "examples", "example", "site-docs", "mkdocs"}
_DOC_FILES = re.compile(
    r"^(?:(?:readme|changelog|changes|contributing|history|authors)(?:\.txt)?|"
    r".*\.(?:md|mdx|rst|adoc|asciidoc))$",
    re.IGNORECASE,
)


def category_of(rel: str) -> str | None:
    """The left-out category of a tracked file (``tests``, ``fixtures``, ``docs``,
    ``lock_files``), or None when it is scanned by default."""
    path = PurePosixPath(rel)
    name, folders = path.name, [p.lower() for p in path.parts[:-1]]
    if name in _LOCK_FILES:
        return "lock_files"
    if any(f in _FIXTURE_DIRS for f in folders):
        return "fixtures"
    if any(f in _TEST_DIRS for f in folders) or _TEST_FILES.match(name):
        return "tests"
    if any(f in _DOC_DIRS for f in folders) or _DOC_FILES.match(name):
        return "docs"
    return None


# Alembic (revision / down_revision / the docstring's "Revision ID:" and "Revises:"), and
# the same shape elsewhere (yoyo, Flask-Migrate): an id, never a credential.
_ID = r"['\"]?[0-9a-f]{6,40}['\"]?"
_REVISION_LINE = re.compile(
    r"^\s*(?:(?:down_revision|revision|depends_on|branch_labels)\s*(?::[^=]*)?=|"
    r"(?:Revision ID|Revises)\s*:)\s*[\[\(]?\s*"
    rf"{_ID}(?:\s*,\s*{_ID})*\s*,?\s*[\]\)]?\s*(?:#.*)?$",
    re.IGNORECASE,
)


def is_revision_line(line: str) -> bool:
    return bool(_REVISION_LINE.match(line))


# --- placeholders ---

_PLACEHOLDER_WORDS = re.compile(
    r"change[_\-. ]?(?:me|this|it)\b|change[_\-. ]?in[_\-. ]?prod|replace[_\-. ]?(?:me|this|with)|"
    r"(?:^|[_\-. ])(?:your|insert|put|enter|add)[_\-. ](?:[a-z0-9]+[_\-. ])*?"
    r"(?:key|token|secret|password|pass|here)|"
    r"[_\-. ]here$|example|sample|placeholder|dummy|redacted|fake|"
    r"not[_\-. ]?a[_\-. ]?(?:real[_\-. ]?)?secret|"
    r"xxxx|\*\*\*|\.\.\.|…|"
    # a value that calls itself a test / dev / CI value: "test-secret-key-for-ci", "dev-key"
    r"(?:^|[_\-. ])(?:test|testing|tests|dev|local|demo|ci|sandbox)(?:[_\-. ]|$)",
    re.IGNORECASE,
)
# Template references: the value is filled in elsewhere.
_TEMPLATED = re.compile(
    r"<[^<>]{1,80}>|\$\{[^}]*\}|\$\([^)]*\)|^\$[A-Za-z_]\w*$|\{\{.*?\}\}|%\([^)]+\)s|"
    r"^%[A-Za-z_]\w*%$|^@[A-Za-z_]\w*@$|^__[A-Z][A-Z0-9_]*__$|^\{[A-Za-z_]\w*\}$"
)
# Whole values that are default or dummy credentials, not secrets anyone guarded.
_DEFAULT_VALUES = {
    *("password", "passwd", "pass", "pwd", "secret", "secretkey", "secret_key", "token"),
    *("postgres", "root", "admin", "administrator", "guest", "test", "testing", "user"),
    *("username", "default", "none", "null", "nil", "todo", "tbd", "foo", "bar", "foobar"),
    *("qwerty", "123456", "12345678", "letmein", "dev", "local", "localhost", "mysql"),
    *("mongo", "redis", "rabbitmq", "minio", "minioadmin", "sa", "changeme", "s3cr3t"),
    # the keyword's own name as the value: "should_exclude_secret": "secrets"
    *("secrets", "tokens", "passwords", "credential", "credentials", "apikey", "api_key"),
}
_REPEATED = re.compile(r"^(.)\1{3,}$")
_USERINFO = re.compile(r"://([^:/@\s'\"]+):([^@\s'\"]+)@")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/]{40,}")
_PEM_LINE = re.compile(r"""^\s*["']?[A-Za-z0-9+/]{40,}={0,2}(?:\\n)?["']?\s*[,+\\]?\s*$""")
_PEM_HEADERS = re.compile(r"^\s*(?:Proc-Type|DEK-Info|Comment):")


def is_placeholder(value: str | None) -> bool:
    """True when the value says it is not a real secret."""
    if value is None:
        return False
    text = value.strip().strip("'\"`")
    if not text:
        return True
    return bool(
        text.lower() in _DEFAULT_VALUES
        or _REPEATED.match(text)
        or _TEMPLATED.search(text)
        or _PLACEHOLDER_WORDS.search(text)
    )


_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_REFERENCE_KEY = re.compile(
    r"""(?:_env|_var|_variable|_name|_file|_path)["']?\s*[:=]\s*["']([^"']*)["']""", re.IGNORECASE
)


# A label or a message: words and spaces ("Probe password", "Remove each credential, rotate").
_PROSE = re.compile(r"^[A-Za-z][A-Za-z0-9'\u2019(),.:;!?/-]*(?: [A-Za-z0-9'\u2019(),.:;!?/-]+)+$")
# `mode != "off"`: a keyword compared with a plain word (a mode or a choice).
_COMPARED = re.compile(r"""(?:!==?|===?)\s*["']([a-z][a-z_-]*)["']""")
_SHORT_HEX = 16


def is_prose(value: str | None) -> bool:
    """The keyword's value is words with spaces between them (two or more, letters first): a
    label, a message or a hint, as people write them, not a credential."""
    if value is None:
        return False
    text = value.strip().strip("'\"`")
    return bool(_PROSE.match(text)) and sum(c.isalpha() for c in text) * 4 >= len(text) * 3


def is_word_comparison(line: str, value: str | None) -> bool:
    """The keyword is compared with a plain lowercase word (``local_passwords != "off"``), the
    way code tests a mode; a credential test compares with something a guesser would not."""
    return value is not None and any(m.group(1) == value for m in _COMPARED.finditer(line))


def is_short_hex(secret_type: str, value: str | None) -> bool:
    """A bare hex string under 16 digits (64 bits): an id or a short commit hash, too short
    for a key."""
    return secret_type == "Hex High Entropy String" and len((value or "").strip()) < _SHORT_HEX


def is_reference(line: str, value: str | None) -> bool:
    """The value names where the secret is (``password_env = "DB_PASSWORD"``), not the secret."""
    if value is None:
        return False
    return bool(_ENV_NAME.match(value)) or any(
        m.group(1) == value for m in _REFERENCE_KEY.finditer(line)
    )


def is_placeholder_userinfo(line: str, password: str | None) -> bool:
    """A connection string whose password repeats its user (``postgres:postgres@``)."""
    for user, secret in _USERINFO.findall(line):
        if secret == password and user.lower() == secret.lower():
            return True
    return False


def private_key_has_body(lines: list[str], index: int) -> bool:
    """A PEM header followed by key material (not code that merely names the header).

    ``index`` is the 0-based line of the header. The body starts right after the header on
    that line (keys pasted with ``\\n`` escapes, as in a service-account JSON), or is the
    first line after it that is not a PEM header field (``Proc-Type``...): a line of base64.
    """
    after = lines[index].split("PRIVATE KEY", 1)[-1].lstrip("-").replace("\\n", "\n").strip()
    if _PEM_BODY.match(after):
        return True
    for line in lines[index + 1 : index + 6]:
        if line.strip() and not _PEM_HEADERS.match(line):
            return bool(_PEM_LINE.match(line))
    return False


# --- severity ---

_RANKS: dict[str, tuple[int, str]] = {
    "Private Key": (0, "private key"),
    **dict.fromkeys(
        (
            "AWS Access Key",
            "Azure Storage Account access key",
            "IBM Cloud IAM Key",
            "IBM COS HMAC Credentials",
            "SoftLayer Credentials",
            "Cloudant Credentials",
        ),
        (1, "cloud key"),
    ),
    "Basic Auth Credentials": (2, "connection string with a password"),
    **dict.fromkeys(
        (
            "GitHub Token",
            "GitLab Token",
            "Slack Token",
            "Stripe Access Key",
            "Twilio API Key",
            "SendGrid API Key",
            "Mailchimp Access Key",
            "NPM tokens",
            "PyPI Token",
            "Discord Bot Token",
            "Telegram Bot Token",
            "OpenAI Token",
            "Square OAuth Secret",
            "Artifactory Credentials",
            "JSON Web Token",
        ),
        (3, "token"),
    ),
    "Secret Keyword": (4, "password or secret in code"),
    "Base64 High Entropy String": (5, "high-entropy string"),
    "Hex High Entropy String": (5, "high-entropy string"),
}


def rank_of(secret_type: str) -> tuple[int, str]:
    """(rank, kind): a lower rank is more serious."""
    return _RANKS.get(secret_type, (6, "possible secret"))
