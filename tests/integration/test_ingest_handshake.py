"""`ingest --subscribe/--header/--subprotocol` as a user runs it, against a feed that needs all three: every
message arrives across a reconnect, and the secret is nowhere a person or another process could read it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.handshake_server import HandshakeServer
from tests.integration.test_ingest_cli import PULSE, count_rows, last_json, pulse
from tests.processes import children_of

SECRET = "s3cr3t-Tok3n-do-not-leak"
SUBSCRIBE = '{"op": "subscribe", "channel": "sensors"}'


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), **extra)


def _wait(condition, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        assert process is None or process.poll() is None, "the ingest ended early"
        time.sleep(0.01)


def _command_lines(pid: int) -> list[bytes]:
    """/proc/PID/cmdline of `pid` and of every process below it."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            found.append(Path(f"/proc/{current}/cmdline").read_bytes())
        except OSError:
            continue
        pending.extend(children_of(current))
    return found


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_a_feed_behind_a_token_and_a_subscribe_message_arrives_whole_across_a_reconnect(tmp_path: Path) -> None:
    db = tmp_path / "feed.db"
    server = HandshakeServer(authorization=f"Bearer {SECRET}", subscribe=SUBSCRIBE, count=300, drop_after=120,
                             subprotocol="pulse.v1", hold=True)
    with server:
        process = subprocess.Popen(
            [*PULSE, "--log-level", "debug", "ingest", server.url, "--db", str(db), "--json",
             "--max-messages", "300", "--subscribe", SUBSCRIBE, "--header", "Authorization: Bearer ${PULSE_TOKEN}",
             "--header", "X-Client: pulse-test", "--subprotocol", "other.v0", "--subprotocol", "pulse.v1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_environment(tmp_path, PULSE_TOKEN=SECRET),
        )
        try:
            _wait(lambda: len(server.subscribes) == 1, 30, process)  # connected, subscribed, waiting to stream
            command_lines = _command_lines(process.pid)
            server.go.set()
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, stderr
    stats = last_json(stdout)
    assert (stats["received"], stats["written"], stats["reconnects"], stats["gaps"]) == (300, 300, 1, 0)
    assert count_rows(db) == 300
    assert server.subscribes == [SUBSCRIBE, SUBSCRIBE] and server.refused == []  # subscribed on both connections
    assert all("X-Client" in names for names in server.header_names)
    assert command_lines and all(SECRET.encode() not in line for line in command_lines)
    assert b"${PULSE_TOKEN}" in command_lines[0]  # what was on the command line: the placeholder
    for text in (stdout, stderr, *(path.read_text(errors="replace") for path in _files_under(tmp_path / "state"))):
        assert SECRET not in text


def test_header_and_subscribe_from_files(tmp_path: Path) -> None:
    token_file, subscribe_file = tmp_path / "token", tmp_path / "subscribe.json"
    token_file.write_text(f"Bearer {SECRET}\n")  # an editor's trailing line break is not part of the value
    subscribe_file.write_text(SUBSCRIBE + "\n")
    db = tmp_path / "files.db"
    with HandshakeServer(authorization=f"Bearer {SECRET}", subscribe=SUBSCRIBE, count=50) as server:
        completed = pulse("ingest", server.url, "--db", str(db), "--json", "--max-messages", "50",
                          "--subscribe", f"@{subscribe_file}", "--header", f"Authorization: @{token_file}")
    assert completed.returncode == 0, completed.stderr
    assert last_json(completed.stdout)["written"] == 50 and server.subscribes == [SUBSCRIBE]
    assert SECRET not in completed.stdout + completed.stderr


def test_a_missing_variable_is_one_line_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    environment = _environment(tmp_path)
    environment.pop("PULSE_ABSENT_TOKEN", None)
    completed = subprocess.run(
        [*PULSE, "ingest", "ws://127.0.0.1:9/", "--db", str(db), "--header", "Authorization: Bearer ${PULSE_ABSENT_TOKEN}"],
        capture_output=True, text=True, timeout=60, env=environment,
    )
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1 and "PULSE_ABSENT_TOKEN" in completed.stderr
    missing_file = pulse("ingest", "ws://127.0.0.1:9/", "--db", str(db), "--subscribe", f"@{tmp_path / 'nope'}")
    assert missing_file.returncode == 2 and "nope" in missing_file.stderr
    assert len(missing_file.stderr.strip().splitlines()) == 1
    for header in ("Bearer abc", "Sec-WebSocket-Protocol: x", "X-Bad: a\r\nb"):
        refused = pulse("ingest", "ws://127.0.0.1:9/", "--db", str(db), "--header", header)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, header
    assert "abc" not in pulse("ingest", "ws://127.0.0.1:9/", "--db", str(db), "--header", "Bearer abc").stderr
    replay = pulse("ingest-file", "/dev/null", "--db", str(db), "--header", f"Authorization: Bearer {SECRET}")
    assert replay.returncode == 2 and "no connection" in replay.stderr  # a file has none: refused in one line
    assert SECRET not in replay.stderr and len(replay.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_refusals_are_reported_without_the_secret(tmp_path: Path) -> None:
    with HandshakeServer(authorization="Bearer right", subscribe=SUBSCRIBE, count=10) as server:
        wrong_token = subprocess.run(
            [*PULSE, "ingest", server.url, "--db", str(tmp_path / "a.db"), "--json", "--seconds", "1.5",
             "--subscribe", SUBSCRIBE, "--header", "Authorization: Bearer ${PULSE_TOKEN}"],
            capture_output=True, text=True, timeout=60, env=_environment(tmp_path, PULSE_TOKEN=SECRET),
        )
        bad_subscribe = pulse("ingest", server.url, "--db", str(tmp_path / "b.db"), "--json", "--seconds", "1.5",
                              "--subscribe", '{"op": "nonsense"}', "--header", "Authorization: Bearer right")
    assert wrong_token.returncode == 3 and 401 in server.refused  # never connected
    assert "401" in last_json(wrong_token.stdout)["last_error"]
    assert SECRET not in wrong_token.stdout + wrong_token.stderr
    stats = last_json(bad_subscribe.stdout)  # the server closed on the subscribe: said like any other close
    assert stats["received"] == 0 and "1008" in stats["last_error"] and "unknown subscription" in stats["last_error"]
