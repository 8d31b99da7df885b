"""What the cell viewer says about a value, and the text a copy puts on the clipboard."""

from __future__ import annotations

import csv
import io
import json

from desktop_app.core import cells

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201ff9f6e4a6e0000000049454e44ae426082"
)


def test_values_are_described_by_kind() -> None:
    assert cells.describe(None).kind == "null"
    assert cells.describe(7).summary == "INTEGER"
    assert cells.describe(0.1).text == "0.1"
    long = "line\n" * 3000
    text = cells.describe(long)
    assert text.kind == "text" and text.text == long and "15,000 characters · 3,001 lines" in text.summary
    doc = cells.describe('{"a": [1, 2], "b": {"c": "é"}}')
    assert doc.kind == "json" and doc.text == json.dumps({"a": [1, 2], "b": {"c": "é"}}, indent=2, ensure_ascii=False)
    assert cells.describe("[not json").kind == "text"
    assert cells.describe("42").kind == "text"  # a bare number is not worth pretty-printing


def test_blobs_get_a_hex_dump_and_images_are_recognised() -> None:
    blob = cells.describe(bytes(range(40)))
    assert blob.kind == "blob" and blob.summary == "BLOB · 40 bytes"
    assert blob.hex.splitlines()[0] == "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................"
    assert blob.hex.splitlines()[2].startswith("00000020  20 21 22 23 24 25 26 27") and blob.hex.endswith(" !\"#$%&'")
    image = cells.describe(PNG)
    assert image.kind == "image" and image.image_format == "PNG" and "PNG image" in image.summary
    assert cells.image_format(b"\xff\xd8\xff\xe0rest") == "JPEG"
    big = cells.describe(b"\x00" * (cells.HEX_DUMP_BYTES + 1))
    assert len(big.hex.splitlines()) == cells.HEX_DUMP_BYTES // 16 and "hex of the first" in big.summary


def test_copy_formats_agree_with_the_export() -> None:
    columns = ["id", "text", "raw", "none", "x"]
    rows = [(1, 'say "hi"\tnow', b"\x00\xff", None, 1.5), (2, "two\nlines", b"", None, float("nan"))]
    tsv = cells.to_tsv(columns, rows, header=True)
    assert list(csv.reader(io.StringIO(tsv), delimiter="\t")) == [
        columns,
        ["1", 'say "hi"\tnow', "AP8=", "", "1.5"],
        ["2", "two\nlines", "", "", "nan"],
    ]
    assert cells.to_tsv(["a"], [("plain",)]) == "plain"  # one cell pastes as a value, no line break
    assert list(csv.reader(io.StringIO(cells.to_csv(columns, rows))))[1] == ["1", 'say "hi"\tnow', "AP8=", "", "1.5"]
    assert json.loads(cells.to_json(columns, rows)) == [
        {"id": 1, "text": 'say "hi"\tnow', "raw": "AP8=", "none": None, "x": 1.5},
        {"id": 2, "text": "two\nlines", "raw": "", "none": None, "x": None},
    ]
    assert json.loads(cells.to_json(["a", "a"], [(1, 2)])) == [{"a": 1, "a:2": 2}]
