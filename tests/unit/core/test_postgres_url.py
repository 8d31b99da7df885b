"""Passwords in postgresql:// URLs never reach a message, however they are written (not percent-encoded too)."""

from __future__ import annotations

import pytest

from desktop_app.core.postgres.url import (
    PostgresUnavailable,
    clean_message,
    connect,
    describe,
    has_password,
    mask_url,
)

# (URL, the password its author meant). Port 1 on localhost refuses at once: no server, no network needed.
HOSTILE = [
    ("postgresql://user:p@ss:w/rd@127.0.0.1:1/db", "p@ss:w/rd"),
    ("postgresql://user:hunter#2secret@127.0.0.1:1/db", "hunter#2secret"),
    ("postgresql://user:s3cr/et!x@127.0.0.1:1/db?sslmode=disable", "s3cr/et!x"),
    ("postgresql://user:what?is@this@127.0.0.1:1/db", "what?is@this"),
    ("postgresql://user:p@ssword1@127.0.0.1:1/db", "p@ssword1"),
    ("postgresql://user:ab@cdefg:7/x@127.0.0.1:1/db", "ab@cdefg:7/x"),
    ("postgresql://user:p%zzq%40xyz9@127.0.0.1:1/db", "p%zzq%40xyz9"),
    ("postgresql://user::colons:@127.0.0.1:1/db", ":colons:"),
    ("postgresql://127.0.0.1:1/db?sslmode=disable&password=a&bcd#ef/gh@ij", "a&bcd#ef/gh@ij"),
]


def leaks(message: str, password: str) -> list[str]:
    """Every piece of 3 or more characters of `password` that `message` contains."""
    return sorted({
        password[i:j] for i in range(len(password)) for j in range(i + 3, len(password) + 1)
        if password[i:j] in message
    })


@pytest.mark.parametrize(("url", "password"), HOSTILE)
def test_no_part_of_a_password_is_printed(url: str, password: str) -> None:
    assert has_password(url)
    for message in (mask_url(url), describe(url)):
        assert leaks(message, password) == [], message
    assert "127.0.0.1" in mask_url(url) and mask_url(url).startswith("postgresql://")


@pytest.mark.parametrize(("url", "password"), HOSTILE)
def test_no_part_of_a_password_reaches_a_connection_error(url: str, password: str) -> None:
    with pytest.raises(PostgresUnavailable) as caught:
        connect(url)
    assert leaks(str(caught.value), password) == [], str(caught.value)


def test_what_libpq_quotes_of_a_misparsed_password_is_masked() -> None:
    """libpq takes the user info to the first @ and quotes the rest back as a host or a query parameter."""
    url, _password = HOSTILE[0]
    assert clean_message("failed to resolve host 'ss': [Errno -8]", url) == "failed to resolve host ***: [Errno -8]"
    url, password = HOSTILE[4]
    message = clean_message("failed to resolve host 'ssword1@127.0.0.1': [Errno -2] Name or service not known", url)
    assert leaks(message, password) == [] and "Name or service not known" in message
    url, password = HOSTILE[-1]
    message = clean_message('missing key/value separator "=" in URI query parameter: "bcd#ef/gh@ij"', url)
    assert leaks(message, password) == [] and "separator" in message


def test_urls_without_a_password_are_left_alone() -> None:
    for url in ("postgresql://bob@db:5432/app?sslmode=require", "postgresql:///app?host=/run/postgresql",
                "postgres://db/app", "postgresql://[::1]:5432/app"):
        assert mask_url(url) == url and not has_password(url)
    assert mask_url("postgresql://bob:hunter2@db:5432/app?sslmode=require") == \
        "postgresql://bob:***@db:5432/app?sslmode=require"
    assert describe("postgresql://user:p@ss:w/rd@db:5432/app") == "user@db:5432/app"
