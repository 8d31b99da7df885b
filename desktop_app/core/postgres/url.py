"""postgresql:// URLs: recognising them, masking passwords, connecting with typed errors.

A password never travels in our own output: `mask_url` replaces it before a URL is printed, logged, put
in JSON or shown in the window. People should not need one in the URL at all: libpq reads PGPASSWORD and
~/.pgpass itself, and `connect(..., prompt=...)` asks once when the server wants a password and none was
given. Everything else in the URL (sslmode, sslrootcert, connect_timeout, options, ...) goes to libpq
untouched, so `?sslmode=require` is honoured exactly as psql would honour it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from desktop_app.core.errors import PulseError

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
MASK = "***"
DEFAULT_CONNECT_TIMEOUT_S = 10
# libpq's messages when the server asked for a password and none was available.
PASSWORD_MISSING = ("no password supplied", "fe_sendauth")


class PostgresUnavailable(PulseError):
    """The PostgreSQL server cannot be reached or refused us (address, authentication, TLS, missing driver)."""


class PostgresError(PulseError):
    """The server refused a statement (permissions, a full disk, a read-only server, ...)."""


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.split(":", 1)[0].lower() in SCHEMES and "://" in value


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***; query parameters named password too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://" + MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        netloc = f"{userinfo}@{hostinfo}"
    query = "&".join(
        f"{key}={MASK}" if key.lower() == "password" else piece
        for piece in parts.query.split("&") if piece
        for key in [piece.split("=", 1)[0]]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def has_password(url: str) -> bool:
    return mask_url(url) != url


def describe(url: str) -> str:
    """A short name for messages: user@host:port/dbname (never the password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return mask_url(url)
    database = parts.path.lstrip("/") or (parts.username or "")
    return f"{user}{host}{port}/{database}"


def load_driver() -> object:
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
    """libpq's message on one line, with any password it might echo masked."""
    text = " ".join(text.split())
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, MASK)
    return text.replace(url, mask_url(url))


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
