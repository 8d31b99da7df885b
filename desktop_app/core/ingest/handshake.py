"""What a feed needs at connect time: request headers, a subscribe message, subprotocols.

Secrets stay out of the config: a header value is a SPEC, kept as written in the IngestConfig (and so in the
JSON document that crosses to the `ingest-worker` child, in settings, in a repr):
    literal text                  sent as is (on a command line it sits in /proc/*/cmdline: the user's choice)
    text with ${NAME} in it       each placeholder replaced by the environment variable NAME
    @/path/to/file                the file's contents (one trailing line break dropped)
A subscribe message is literal text, or @/path/to/file read the same way.

Specs are resolved in the process that connects, at every connect (a rotated token file is picked up on the
next reconnect). Resolved values are never formatted into a message: errors name the header, the variable or
the file, never what it holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from desktop_app.core.errors import IngestError

Header = tuple[str, str]  # (name, value spec)

# RFC 7230 3.2.6: a header name is a token.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Headers the WebSocket handshake itself sets: a second copy would break it (subprotocols have their option).
RESERVED = frozenset({"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                      "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept"})
MAX_FILE_BYTES = 1 << 20  # a header or subscribe file larger than this is not what the user meant


def parse_header(text: str) -> Header:
    """'Name: value spec' (as typed on a command line or in the panel) -> (name, spec), checked."""
    name, colon, spec = text.partition(":")
    if not colon:
        raise IngestError("A header is written 'Name: value' (the name, a colon, then the value).")
    header = (name.strip(), spec.strip())
    check_header(*header)
    return header


def check_header(name: str, spec: str) -> None:
    """IngestError when the name is not an HTTP token, is one the handshake sets, or the spec has a line break."""
    if not isinstance(name, str) or not isinstance(spec, str) or not TOKEN.fullmatch(name):
        # Not echoed: a mistyped header may have its secret where the name should be.
        raise IngestError("A header name must be letters, digits and !#$%&'*+-.^_`|~ only, followed by ':'.")
    if name.lower() in RESERVED:
        raise IngestError(f"Header {name} is set by the WebSocket handshake itself"
                          f"{' (use --subprotocol)' if name.lower() == 'sec-websocket-protocol' else ''}.")
    if "\r" in spec or "\n" in spec or "\0" in spec:
        raise IngestError(f"Header {name}: the value has a line break in it.")
    if spec.startswith("@") and len(spec) == 1:
        raise IngestError(f"Header {name}: '@' must be followed by a file name.")


def check_subprotocol(name: str) -> None:
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise IngestError(f"{name!r} is not a valid subprotocol name (letters, digits and !#$%&'*+-.^_`|~).")


def resolve_headers(headers: Iterable[Header], environ: Mapping[str, str] | None = None) -> list[Header]:
    """The headers to send, each spec resolved now; IngestError naming what is missing (never a value)."""
    environ = os.environ if environ is None else environ
    resolved = []
    for name, spec in headers:
        value = resolve_value(spec, environ, what=f"Header {name}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise IngestError(f"Header {name}: the value it resolves to has a line break in it.")
        resolved.append((name, value))
    return resolved


def resolve_value(spec: str, environ: Mapping[str, str], *, what: str) -> str:
    if spec.startswith("@"):
        return read_spec_file(spec[1:], what=what)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise IngestError(f"{what}: the environment variable {name} is not set; set it (export {name}=…) "
                              "and start again.")
        return environ[name]

    return PLACEHOLDER.sub(variable, spec)


def subscribe_message(spec: str | None) -> str | None:
    """The subscribe message to send after each connect: the text itself, or the contents of @FILE."""
    if spec is None or not spec.startswith("@"):
        return spec
    return read_spec_file(spec[1:], what="Subscribe message")


def read_spec_file(path_text: str, *, what: str) -> str:
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as file:  # never a database file: these are the user's small text files
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise IngestError(f"{what}: cannot read {path}: {exc.strerror or exc}.") from None
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(f"{what}: {path} is larger than {MAX_FILE_BYTES:,} bytes.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError(f"{what}: {path} is not UTF-8 text.") from None
    # Editors end a file with a line break; it is not part of a token or a message.
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def check_resolvable(headers: Iterable[Header], subscribe: str | None,
                     environ: Mapping[str, str] | None = None) -> None:
    """Resolve everything once and throw it away: a missing variable or file is said before anything starts."""
    resolve_headers(headers, environ)
    subscribe_message(subscribe)

