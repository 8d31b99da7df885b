"""MQTT ingest speed against the least a subscriber can do, on the same broker and the same messages.

Starts a mosquitto of its own on a free loopback port (tests/mosquitto_broker.py), creates one persistent QoS 1
session per consumer, then publishes --messages JSON messages once: the broker queues every message for every
session. Each consumer then drains the same backlog from the same broker, one after the other:

  baseline   a minimal paho-mqtt subscriber (MQTT 5, QoS 1, paho's automatic acknowledgement, its own network
             thread) that only counts messages
  ingest     `ingest mqtt://... --max-messages N` into a new SQLite file: mapping, batching, commits, and each
             message acknowledged only after its batch committed
  dedupe     the same with --dedupe-key seq (a UNIQUE index, ON CONFLICT DO NOTHING RETURNING)

Rates count from each consumer's first message to its last (ingest: to the last commit, its rows_per_s).
Publishing ahead is fair to both sides: neither waits on a publisher, both read what the broker already holds.

    python bench/mqtt.py [--messages 200000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mosquitto_broker import create_session, mosquitto, publish  # noqa: E402

TOPIC = "sensors/#"
TARGET_RATIO = 0.8
DEADLINE_S = 600.0


def baseline(port: int, messages: int, client_id: str) -> float:
    """Messages per second of a subscriber that only counts (first message to last)."""
    from paho.mqtt.client import CallbackAPIVersion, Client, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
    done = threading.Event()
    seen = {"count": 0, "first": 0.0, "last": 0.0}

    def on_message(client: object, userdata: object, message: object) -> None:
        if seen["count"] == 0:
            seen["first"] = time.perf_counter()
        seen["count"] += 1
        if seen["count"] >= messages:
            seen["last"] = time.perf_counter()
            done.set()

    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        if not done.wait(DEADLINE_S):
            raise RuntimeError(f"the baseline received {seen['count']:,} of {messages:,} messages")
    finally:
        client.disconnect()
        client.loop_stop()
    return messages / (seen["last"] - seen["first"])


def ingest(port: int, messages: int, client_id: str, db: Path, *options: str) -> dict:
    command = [sys.executable, "-m", "desktop_app", "ingest", f"mqtt://127.0.0.1:{port}/{TOPIC}", "--db", str(db),
               "--client-id", client_id, "--max-messages", str(messages), "--json", *options]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_S, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"ingest failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    stats = json.loads(completed.stdout.strip().splitlines()[-1])
    if stats["written"] + stats["duplicates"] != messages:
        raise RuntimeError(f"ingest wrote {stats['written']:,} of {messages:,}: {stats}")
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pulse-bench-mqtt-") as folder:
        root = Path(folder)
        with mosquitto(root / "broker", persistence=False) as broker:
            consumers = ("bench-baseline", "bench-ingest", "bench-dedupe")
            for client_id in consumers:
                create_session(broker.port, client_id, TOPIC)
            started = time.monotonic()
            publish(broker.port, range(1, args.messages + 1))
            published_s = time.monotonic() - started
            print(f"published {args.messages:,} messages ahead in {published_s:.1f} s (load average {load:.2f})",
                  file=sys.stderr, flush=True)
            base = baseline(broker.port, args.messages, consumers[0])
            plain = ingest(broker.port, args.messages, consumers[1], root / "plain.db")
            dedupe = ingest(broker.port, args.messages, consumers[2], root / "dedupe.db", "--dedupe-key", "seq")
    result = {
        "messages": args.messages,
        "load_average": round(load, 2),
        "baseline_msgs_per_s": round(base),
        "ingest_msgs_per_s": round(plain["rows_per_s"]),
        "ingest_dedupe_msgs_per_s": round(dedupe["rows_per_s"]),
        "ratio": round(plain["rows_per_s"] / base, 3),
        "ratio_dedupe": round(dedupe["rows_per_s"] / base, 3),
        "ingest_peak_rss_mb": plain["peak_rss_mb"],
    }
    print(f"{'consumer':<34}{'msgs/s':>12}{'ratio':>8}")
    print(f"{'paho subscriber, count only':<34}{result['baseline_msgs_per_s']:>12,}{1:>8.2f}")
    print(f"{'ingest into SQLite':<34}{result['ingest_msgs_per_s']:>12,}{result['ratio']:>8.2f}")
    print(f"{'ingest --dedupe-key seq':<34}{result['ingest_dedupe_msgs_per_s']:>12,}{result['ratio_dedupe']:>8.2f}")
    verdict = "meets" if result["ratio"] >= TARGET_RATIO else "misses"
    print(f"ingest {verdict} the {TARGET_RATIO:.0%} target ({args.messages:,} messages each, load {load:.2f})")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
