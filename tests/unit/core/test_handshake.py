"""Handshake specs: parsed and checked where they are written, resolved only where the connection is made, and
the resolved value in no message, document or repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.ingest import IngestConfig, IngestError
from desktop_app.core.ingest.handshake import (
    check_resolvable,
    parse_header,
    resolve_headers,
    subscribe_message,
)

SECRET = "hunter2-very-secret"


def test_parse_header_keeps_the_spec() -> None:
    assert parse_header("Authorization:  Bearer ${TOKEN} ") == ("Authorization", "Bearer ${TOKEN}")
    assert parse_header("X-Key: @~/key.txt") == ("X-Key", "@~/key.txt")
    for bad in (f"Bearer {SECRET}", f"Bad Name: {SECRET}", "Host: example.org", "Sec-WebSocket-Protocol: a",
                f"X-Key: {SECRET}\r\nX-Other: 1", ": value", "X-Key: @"):
        with pytest.raises(IngestError) as caught:
            parse_header(bad)
        assert SECRET not in str(caught.value), bad


def test_resolve_from_environment_and_files(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(SECRET + "\r\n")
    environ = {"TOKEN": SECRET}
    headers = (("Authorization", "Bearer ${TOKEN}"), ("X-Key", f"@{key}"), ("X-Plain", "a $b ${ c"))
    assert resolve_headers(headers, environ) == [
        ("Authorization", f"Bearer {SECRET}"), ("X-Key", SECRET), ("X-Plain", "a $b ${ c")]
    with pytest.raises(IngestError, match="TOKEN is not set"):
        resolve_headers(headers, {})
    with pytest.raises(IngestError, match="line break") as caught:
        resolve_headers((("X-A", "${TOKEN}"),), {"TOKEN": f"{SECRET}\nX-Evil: 1"})
    assert SECRET not in str(caught.value)
    message = tmp_path / "subscribe.json"
    message.write_text('{"op": "sub"}\n\n')
    assert subscribe_message(f"@{message}") == '{"op": "sub"}\n'  # one trailing line break is dropped
    assert subscribe_message("plain text") == "plain text" and subscribe_message(None) is None
    with pytest.raises(IngestError, match="Subscribe message: cannot read"):
        check_resolvable((), f"@{tmp_path / 'missing'}")
    key.write_bytes(b"\xff\xfe")
    with pytest.raises(IngestError, match="not UTF-8"):
        resolve_headers((("X-Key", f"@{key}"),), {})


def test_the_config_document_carries_specs_and_round_trips() -> None:
    config = IngestConfig(url="ws://127.0.0.1:1/", db_path=Path("/tmp/x.db"), subscribe='{"op": "sub"}',
                          headers=(("Authorization", "Bearer ${TOKEN}"),), subprotocols=("a.v1", "b")).validated()
    document = config.to_document()
    assert IngestConfig.from_document(document) == config
    assert "${TOKEN}" in repr(config) and "${TOKEN}" in str(document)
    for bad in ({"headers": (("Bad Name", "x"),)}, {"subprotocols": ("a b",)}, {"subscribe": ""}):
        with pytest.raises(IngestError):
            IngestConfig(url="ws://127.0.0.1:1/", db_path="/tmp/x.db", **bad).validated()  # type: ignore[arg-type]
    with pytest.raises(IngestError, match="no connection"):
        IngestConfig(url="file:///tmp/x.ndjson", db_path="/tmp/x.db", subscribe="x").validated()
