"""postgresql:// URLs: recognising them, masking passwords, connecting with typed errors.

A password never travels in our own output: `mask_url` replaces it before a URL is printed, logged, put
in JSON or shown in the window. People should not need one in the URL at all: libpq reads PGPASSWORD and
~/.pgpass itself, and `connect(..., prompt=...)` asks once when the server wants a password and none was
given. Everything else in the URL (sslmode, sslrootcert, connect_timeout, options, ...) goes to libpq
untouched, so `?sslmode=require` is honoured exactly as psql would honour it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from desktop_app.core.errors import PulseError

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
MASK = "***"
DEFAULT_CONNECT_TIMEOUT_S = 10
QUERY_PASSWORD = re.compile(r"[?&]password=", re.IGNORECASE)
QUOTED = re.compile(r"""(['"])([^'"]+)\1""")  # a value libpq quotes in a message: 'ss', "bcd"
# libpq's messages when the server asked for a password and none was available.
PASSWORD_MISSING = ("no password supplied", "fe_sendauth")


class PostgresUnavailable(PulseError):
    """The PostgreSQL server cannot be reached or refused us (address, authentication, TLS, missing driver)."""


class PostgresError(PulseError):
    """The server refused a statement (permissions, a full disk, a read-only server, ...)."""


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.split(":", 1)[0].lower() in SCHEMES and "://" in value


def _password_spans(url: str) -> list[tuple[int, int]]:
    """Where passwords sit in `url`, as (start, end) indexes; over-wide when the URL is ambiguous, never short.

    People paste passwords without percent-encoding, and one may hold any of @ : / ? # &. So the user info
    runs to the *last* @ (urlsplit and libpq stop at the first / or @, and would leave the rest of such a
    password in the path or the host) and its password from the first : on. A `password=` query parameter
    runs to the end of the URL, as an & or # in it cannot be told from the next parameter.
    """
    head, sep, _rest = url.partition("://")
    if not sep:
        return []
    start = len(head) + len(sep)
    spans = []
    at = url.rfind("@", start)
    colon = url.find(":", start, at) if at != -1 else -1
    if colon != -1:
        spans.append((colon + 1, at))
    query = QUERY_PASSWORD.search(url, start)
    if query:  # it may start inside the user info's span (an @ in it): then one span covers both
        spans.append((query.end(), len(url)))
    if len(spans) == 2 and spans[1][0] <= spans[0][1]:
        spans = [(spans[0][0], len(url))]
    return spans


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***; a query parameter named password too."""
    for begin, end in reversed(_password_spans(url)):
        url = url[:begin] + MASK + url[end:]
    return url


def has_password(url: str) -> bool:
    return bool(_password_spans(url))


def describe(url: str) -> str:
    """A short name for messages: user@host:port/dbname (never the password: parsed from the masked URL)."""
    masked = mask_url(url)
    try:
        parts = urlsplit(masked)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return masked
    database = parts.path.lstrip("/") or (parts.username or "")
    return f"{user}{host}{port}/{database}"


def load_driver() -> ModuleType:
    try:
        import psycopg
    except ImportError as exc:  # the pure-Python driver needs the system's libpq (Debian: libpq5)
        raise PostgresUnavailable(
            f"PostgreSQL support needs psycopg 3 and the libpq client library ({exc}). Install libpq5 "
            "(apt-get install libpq5) and `pip install psycopg`."
        ) from None
    return psycopg


def connect(url: str, *, password: str | None = None, prompt: Callable[[str], str] | None = None,
            autocommit: bool = False, application_name: str = "sqlite-pulse") -> psycopg.Connection:
    """A psycopg connection, or PostgresUnavailable with a plain message (the URL masked).

    `prompt(description)` is called once when the server wants a password and neither the URL, PGPASSWORD
    nor ~/.pgpass supplied one; it returns the password (kept only in this call)."""
    psycopg = load_driver()
    extra: dict[str, object] = {"application_name": application_name}
    if "connect_timeout" not in url:
        extra["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT_S
    if password is not None:
        extra["password"] = password
    try:
        return psycopg.connect(url, autocommit=autocommit, **extra)
    except psycopg.OperationalError as exc:
        text = str(exc)
        if prompt is not None and password is None and any(marker in text for marker in PASSWORD_MISSING):
            return connect(url, password=prompt(describe(url)), autocommit=autocommit,
                           application_name=application_name)
        raise PostgresUnavailable(f"Cannot connect to {describe(url)}: {clean_message(text, url)}") from None
    except psycopg.ProgrammingError as exc:  # a malformed URL or an unknown parameter
        raise PostgresUnavailable(f"{mask_url(url)} is not a usable PostgreSQL URL: {clean_message(str(exc), url)}") from None


def clean_message(text: str, url: str) -> str:
    """libpq's message on one line, with nothing of the URL's password in it.

    libpq quotes whatever it misparsed ("failed to resolve host 'ss'" for `user:p@ss:w/rd@db`), so a quoted
    value that is part of a password is masked, and so is any run of 3 or more characters that occurs in one."""
    text = " ".join(text.split()).replace(url, mask_url(url))
    for begin, end in _password_spans(url):
        for secret in {url[begin:end], unquote(url[begin:end])}:
            def masked(m: re.Match[str], s: str = secret) -> str:
                return MASK if m[2] in s else m[0]

            text = QUOTED.sub(masked, text)
            text = _mask_fragments(text, secret)
    return text


def _mask_fragments(text: str, secret: str, shortest: int = 3) -> str:
    """`text` with every run of at least `shortest` characters that is part of `secret` replaced by ***."""
    out, i = [], 0
    while i < len(text):
        length = shortest
        while i + length <= len(text) and text[i : i + length] in secret:
            length += 1
        if length > shortest:  # text[i : i + length - 1] is the longest such run starting here
            out.append(MASK)
            i += length - 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def ensure_password(url: str, *, interactive: bool) -> list[str]:
    """Before a long run: connect once, asking for a password on the terminal when the server wants one
    that the URL, PGPASSWORD and ~/.pgpass do not give. A typed password goes to this process's PGPASSWORD
    (read by libpq for every later connection and by child processes; never on a command line).
    Returns notes for the user (a password in the URL is visible in the process list)."""
    import getpass
    import os

    notes = []
    if has_password(url):
        notes.append("the URL's password is visible to other users in the process list; "
                     "prefer PGPASSWORD or ~/.pgpass")
    asked: list[str] = []

    def ask(name: str) -> str:
        asked.append(getpass.getpass(f"Password for {name}: "))
        return asked[-1]

    connect(url, prompt=ask if interactive else None).close()
    if asked:
        os.environ["PGPASSWORD"] = asked[-1]
    return notes
