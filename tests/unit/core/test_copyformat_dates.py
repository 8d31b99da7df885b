"""migrate --convert-dates' binary date/timestamp encoders against psycopg's own dumpers (a differential test),
and which texts count as SQLite's ISO-8601 dates, checked against SQLite's own reading of them."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import apsw
import pytest
from psycopg.types.datetime import DateBinaryDumper, DatetimeBinaryDumper, DatetimeNoTzBinaryDumper

from desktop_app.core.postgres.copyformat import RowEncoder, Unencodable, iso_datetime

DUMPERS = {"DATE": DateBinaryDumper(date), "TIMESTAMP": DatetimeNoTzBinaryDumper(datetime),
           "TIMESTAMPTZ": DatetimeBinaryDumper(datetime)}


def field(kind: str, value: str) -> bytes:
    row = RowEncoder([kind], ["d"]).row([value])
    return row[2 + 4:]  # after the field count and the field length


def random_text(rng: random.Random) -> str:
    day = f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.2:
        return day
    text = f"{day}{rng.choice(' T')}{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if rng.random() < 0.8:
        text += f":{rng.randint(0, 59):02d}"
        if rng.random() < 0.6:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.4:
        text += rng.choice(["Z", f"{rng.choice('+-')}{rng.randint(0, 14):02d}:{rng.choice(['00', '30', '45'])}"])
    return text


def test_dates_and_times_are_packed_as_psycopg_packs_the_same_moment() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = random_text(rng)
        parsed = iso_datetime(text)
        assert parsed is not None, text
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        kind = parsed[0].upper()
        expected = DUMPERS[kind].dump(moment.date() if kind == "DATE" else moment)
        assert field(kind, text) == bytes(expected), text


def test_a_date_alone_is_its_midnight_in_a_timestamp_column() -> None:
    assert field("TIMESTAMP", "2024-02-29") == bytes(DUMPERS["TIMESTAMP"].dump(datetime(2024, 2, 29)))


@pytest.mark.parametrize("text", [
    "2023-02-29", "2024-13-01", "2024-01-32", "2024-01-01 24:00", "2024-01-01 10:60", "2024-01-01T10:00:00.1234567",
    "0000-01-01", "24-01-01", "2024-1-01", "2024-01-01 10", "2024-01-01Z", "2024-01-01 10:00+0200",
    "2024-01-01 10:00+02:60", "now", "", " 2024-01-01", "2024-01-01 ", "\u0662\u0660\u0662\u0664-01-01",
])
def test_texts_that_are_not_a_real_iso_date_are_refused(text: str) -> None:
    assert iso_datetime(text) is None
    with pytest.raises(Unencodable):
        RowEncoder(["TIMESTAMP"], ["d"]).row([text])


def test_what_is_accepted_is_the_moment_sqlite_itself_reads() -> None:
    rng = random.Random(11)
    connection = apsw.Connection(":memory:")
    compared = 0
    for text in (random_text(rng) for _ in range(1000)):
        parsed = iso_datetime(text)
        assert parsed is not None
        moment = datetime(2000, 1, 1) + timedelta(microseconds=parsed[1])
        if moment.microsecond % 1000 or not 1 < moment.year < 9999:
            continue  # SQLite keeps milliseconds, and its years are 0000-9999
        ours = f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"
        assert connection.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', ?)", (text,)).fetchone()[0] == ours, text
        compared += 1
    assert compared > 300


def test_a_value_of_the_wrong_kind_is_refused_naming_what_the_column_takes() -> None:
    with pytest.raises(Unencodable, match="is not a date and time with a time zone"):
        RowEncoder(["TIMESTAMPTZ"], ["d"]).row(["2024-01-01 10:00"])
    with pytest.raises(Unencodable, match="is not a date"):
        RowEncoder(["DATE"], ["d"]).row(["2024-01-01 10:00"])
    lines, refused = RowEncoder(["DATE", "INTEGER"], ["d", "n"]).lines([("2024-01-01", 1), ("yesterday", 2)])
    assert lines[0] is not None and lines[1] is None and "'yesterday' is not a date" in refused[1]
