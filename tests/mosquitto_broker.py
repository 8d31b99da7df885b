"""A throwaway MQTT broker for tests and benchmarks: Debian's mosquitto on a free loopback port, with a config
file, a password file and its persistence in a folder of ours. Never port 1883 (a system broker may hold it).

Tests that need it FAIL when mosquitto is missing: it is in the Makefile's APT_PACKAGES, so a missing broker
is a broken environment, not a reason to skip.

`max_queued_messages 0` lifts mosquitto's default of 1000 queued messages per client, past which it drops
QoS 1 messages for a subscriber that is slow or away (the SIGKILL tests have it away while publishing).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.scenarios import free_port

USER = "pulse-mqtt"
PASSWORD = "mqtt-S3cret-Pa55"
START_DEADLINE_S = 10.0
STOP_DEADLINE_S = 5.0
PUBLISH_DEADLINE_S = 60.0
PUBLISH_WINDOW = 10_000  # published, not yet acknowledged by the broker


def mosquitto_path() -> Path:
    """mosquitto on PATH, else Debian's /usr/sbin/mosquitto (sbin is often not on a user's PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("mosquitto was not found: install the `mosquitto` package (make system-deps).")
    return Path(found)


def publish(port: int, messages: range, *, topic: str = "sensors/d1", rate: float | None = None,
            client_id: str = "pulse-test-publisher", stop: Callable[[], bool] | None = None,
            login: tuple[str, str] | None = None) -> int:
    """Publish `{"seq": i, ...}` for each i at QoS 1 (at about `rate` per second; None: as fast as paho goes) and
    wait until the broker has acknowledged every one. Returns how many were published."""
    from paho.mqtt.client import CallbackAPIVersion, Client

    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if login is not None:
        client.username_pw_set(*login)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        started = time.monotonic()
        unconfirmed: deque[Any] = deque()  # at most PUBLISH_WINDOW: paho's message ids wrap at 65535
        count = 0
        for index, seq in enumerate(messages):
            if stop is not None and stop():
                break
            if rate is not None and index % 100 == 0:
                ahead = started + index / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            unconfirmed.append(client.publish(topic, json.dumps({"seq": seq, "device": topic, "value": seq * 0.5}),
                                              qos=1))
            count += 1
            while len(unconfirmed) > PUBLISH_WINDOW or (index == len(messages) - 1 and unconfirmed):
                info = unconfirmed.popleft()
                info.wait_for_publish(PUBLISH_DEADLINE_S)
                if not info.is_published():
                    raise RuntimeError("the broker did not acknowledge a message in time")
        while unconfirmed:  # stopped early
            unconfirmed.popleft().wait_for_publish(PUBLISH_DEADLINE_S)
        return count
    finally:
        client.disconnect()
        client.loop_stop()


def create_session(port: int, client_id: str, topic: str = "sensors/#", *, login: tuple[str, str] | None = None) -> None:
    """Subscribe `client_id` at QoS 1 with a persistent session and leave: the broker queues what is published
    from now on for the ingest that takes over that client id (so nothing published before it starts is lost)."""
    from paho.mqtt.client import CallbackAPIVersion, Client, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions

    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
    if login is not None:
        client.username_pw_set(*login)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        client.subscribe(topic, options=SubscribeOptions(qos=1))
        if not subscribed.wait(PUBLISH_DEADLINE_S):
            raise RuntimeError("the broker did not acknowledge the subscription")
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass
class Broker:
    port: int
    root: Path
    process: subprocess.Popen[bytes]

    def url(self, topic: str = "sensors/#", *, user: bool = False) -> str:
        return f"mqtt://{USER + '@' if user else ''}127.0.0.1:{self.port}/{topic}"

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def mosquitto(root: Path, *, password: bool = False, persistence: bool = True) -> Iterator[Broker]:
    """A broker for the duration of the block, stopped (SIGTERM, then SIGKILL) with a deadline."""
    binary = mosquitto_path()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        f"allow_anonymous {'false' if password else 'true'}",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {root}/",
        "max_queued_messages 0",
        f"log_dest file {root / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # else it drops to the `mosquitto` user, who cannot write our folder
    if password:
        passwords = root / "passwords"
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([tool, "-b", "-c", str(passwords), USER, PASSWORD], check=True, capture_output=True, timeout=30)
        lines.append(f"password_file {passwords}")
    config = root / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([str(binary), "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    broker = Broker(port, root, process)
    try:
        _wait_listening(broker)
        yield broker
    finally:
        process.terminate()
        try:
            process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_DEADLINE_S)
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(broker: Broker) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if broker.process.poll() is not None:
            stderr = broker.process.stderr.read().decode(errors="replace") if broker.process.stderr else ""
            raise RuntimeError(f"mosquitto exited with {broker.process.returncode}: {stderr} {broker.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", broker.port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"mosquitto did not listen on {broker.port} within {START_DEADLINE_S:g} s: {broker.log()}")
        time.sleep(0.02)
