"""An MQTT source's URL: `mqtt://[user@]host[:port]/topic/filter` (mqtts:// with TLS), checked without the
client library, so validating a config never loads paho."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from desktop_app.core.errors import IngestError

SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttTarget:
    tls: bool
    host: str
    port: int
    topic: str  # the subscription's topic filter
    username: str | None  # from the URL (a password never is)


def parse_mqtt_url(url: str) -> MqttTarget:
    """`mqtt://[user@]host[:port]/topic/filter`; the path after the port is the topic filter, taken literally
    (so `#` needs no escaping; percent escapes are decoded, `%23` is `#` too). IngestError when malformed."""
    scheme, separator, rest = url.partition("://")
    if scheme not in SCHEMES or not separator:
        raise IngestError(f"{url!r} is not an MQTT URL: expected mqtt://host:port/topic/# or mqtts://...")
    netloc, slash, topic = rest.partition("/")
    try:
        parts = urlsplit("//" + netloc)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise IngestError(f"{url!r} is not a valid URL: {exc}.") from None
    if not host:
        raise IngestError(f"{url!r} names no broker host: expected {scheme}://host:port/topic/#.")
    if parts.password is not None:
        raise IngestError(
            f"Do not put the password in the URL (it would show in process lists and logs): set MQTT_PASSWORD in "
            f"the environment instead, and write the URL as {scheme}://{parts.username}@{host}:{port or SCHEMES[scheme]}/..."
        )
    if port == 0:
        raise IngestError(f"{url!r}: port 0 cannot be connected to.")
    topic = unquote(topic)
    if not slash or not topic:
        raise IngestError(f"{url!r} names no topic: add the topic filter after the port, e.g. {scheme}://{netloc}/sensors/#")
    if "\x00" in topic or any(("#" in level and level != "#") or ("+" in level and level != "+")
                              for level in topic.split("/")) or "#" in topic.split("/")[:-1]:
        raise IngestError(f"{topic!r} is not a valid MQTT topic filter: '+' and '#' must fill a whole level, "
                          "and '#' must be the last.")
    username = unquote(parts.username) if parts.username else None
    return MqttTarget(scheme == "mqtts", host, port or SCHEMES[scheme], topic, username)
