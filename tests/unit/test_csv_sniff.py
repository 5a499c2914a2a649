"""What the first bytes of a URL say it is, and a CSV's row count as Polars counts it."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import polars as pl
import pytest

from chatdf.datasets.csvsniff import PREFIX_BYTES, count_rows, sniff_csv
from chatdf.errors import DatasetError

# Shapes that trip a naive line count: quoted line breaks, CRLF, blank lines,
# a missing last line break, a BOM, blank lines before the header.
SHAPES = {
    "plain": b"a,b\n1,2\n3,4\n",
    "no_last_newline": b"a,b\n1,2\n3,4",
    "blank_line_inside": b"a,b\n1,2\n\n3,4\n",
    "blank_lines_at_end": b"a,b\n1,2\n3,4\n\n\n",
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n",
    "crlf_no_last": b"a,b\r\n1,2\r\n3,4",
    "quoted_newlines": b'a,b\n"x\ny",2\n"p""q\n",4\n',
    "quoted_header": b'"a\nx",b\n1,2\n',
    "header_only": b"a,b\n",
    "header_only_no_newline": b"a,b",
    "bom": b"\xef\xbb\xbfa,b\n1,2\n",
    "blank_lines_first": b"\n\r\na,b\n1,2\n",
    "whitespace_line": b"a,b\n1,2\n   \n3,4\n",
    "trailing_cr": b"a,b\n1,2\r",
    "one_column": b"a\n1\n\n2\n",
    "tabs": b"a\tb\n1\t2\n3\t4\n",
}


def polars_count(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "shape.csv"
    path.write_bytes(data)
    return int(pl.scan_csv(path).select(pl.len()).collect().item())


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_rows_are_counted_as_polars_counts_them(shape: str, chunk: int, tmp_path: Path) -> None:
    data = SHAPES[shape]
    assert count_rows(pieces(data, chunk)) == polars_count(data, tmp_path)


def test_random_quoted_csv_counts_agree_with_polars(tmp_path: Path) -> None:
    rng = random.Random(7)
    cells = ["x", "", '"a,b"', '"line\nbreak"', '"say ""hi"""', "1.5", '"\r\n"']
    for _ in range(40):
        lines = ["h1,h2,h3"]
        for _row in range(rng.randint(0, 30)):
            lines.append(",".join(rng.choice(cells) for _ in range(3)))
        ending = rng.choice(["\n", "\r\n"])
        data = (ending.join(lines) + rng.choice(["", ending])).encode()
        expected = polars_count(data, tmp_path)
        assert count_rows(pieces(data, rng.randint(1, 50))) == expected, data


def test_gzip_is_counted_decompressed_even_in_several_members(tmp_path: Path) -> None:
    data = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n5,6\n")
    assert count_rows(pieces(data, 5), compression="gzip") == polars_count(data, tmp_path) == 3


def test_a_truncated_gzip_is_an_error() -> None:
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 10_000)
    with pytest.raises(DatasetError) as info:
        count_rows([data[: len(data) // 2]], compression="gzip")
    assert info.value.details["reason"] == "not_csv"


def test_an_empty_body_is_an_error() -> None:
    for data in (b"", b"\n\r\n"):
        with pytest.raises(DatasetError) as info:
            count_rows([data])
        assert info.value.details["reason"] == "empty"


# -- sniffing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "separator"),
    [
        (b"id,name,price\n1,Oslo,2.5\n2,Lima,3\n", ","),
        (b"id\tname\tnote\n1\tOslo\ta, b, c\n2\tLima\td, e\n", "\t"),
        (b"id;name;price\n1;Oslo;2,5\n2;Lima;3,0\n", ";"),
        (b"id|name\n1|Oslo\n", "|"),
        (b'name,quote\n"Smith; J.","a\tb"\n', ","),
        (b"value\n1\n2\n", ","),
    ],
)
def test_the_separator_is_sniffed(data: bytes, separator: str) -> None:
    layout = sniff_csv(data, complete=True)
    assert layout.separator == separator
    assert layout.compression is None
    assert layout.sample_rows == data.count(b"\n") - 1


def test_a_tsv_hint_wins_when_tabs_fit() -> None:
    data = b"a,b\tc\n1,2\t3\n"  # both separators fit; the name says TSV
    assert sniff_csv(data, complete=True, url="http://h/x.tsv").separator == "\t"
    assert sniff_csv(data, complete=True).separator == ","
    tsv_type = "text/tab-separated-values; charset=utf-8"
    assert sniff_csv(data, complete=True, content_type=tsv_type).separator == "\t"


def test_types_are_inferred_from_whole_records_of_the_prefix() -> None:
    row = b'1,"a long note\nwith a line break",2.5\n'
    data = b"id,note,price\n" + row * (PREFIX_BYTES // len(row) + 10)
    prefix = data[:PREFIX_BYTES]
    layout = sniff_csv(prefix, complete=False)
    assert layout.sample_rows == (PREFIX_BYTES - len(b"id,note,price\n")) // len(row)


def test_a_gzip_prefix_is_sniffed_decompressed() -> None:
    data = gzip.compress(b"a\tb\n" + b"1\t2\n" * 100_000)
    layout = sniff_csv(data[:4096], complete=False)
    assert (layout.separator, layout.compression) == ("\t", "gzip")
    assert layout.sample_rows > 100


@pytest.mark.parametrize(
    ("data", "content_type", "reason", "words"),
    [
        (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", None, "not_csv", "web page"),
        (b"<html>\n<p>a,b</p>", "application/octet-stream", "not_csv", "web page"),
        (b"id,name\n1,Oslo\n", "text/html; charset=utf-8", "not_csv", "web page"),
        (b'{"id": 1, "name": "Oslo"}', None, "not_csv", "JSON"),
        (b'[{"id": 1}]', "application/json", "not_csv", "JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "not_csv", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", None, "unsupported_compression", "zip"),
        (b"BZh91AY&SY", None, "unsupported_compression", "bzip2"),
        (b"\x28\xb5\x2f\xfd\x00", None, "unsupported_compression", "zstd"),
        (b"", None, "empty", "empty"),
        (b"id,name\n1,Oslo,extra,cells\n", None, "not_csv", "CSV"),
        ("name\nZürich\n".encode("latin-1"), None, "not_csv", "UTF-8"),
    ],
)
def test_what_is_not_csv_is_named(
    data: bytes, content_type: str | None, reason: str, words: str
) -> None:
    with pytest.raises(DatasetError) as info:
        sniff_csv(data, complete=True, content_type=content_type)
    assert info.value.details["reason"] == reason
    assert words.lower() in info.value.message.lower()


def test_a_github_page_gets_a_hint_to_the_raw_file() -> None:
    with pytest.raises(DatasetError, match="raw"):
        sniff_csv(
            b"<!DOCTYPE html><html>",
            complete=True,
            content_type="text/html",
            url="https://github.com/owner/repo/blob/main/data.csv",
        )


def test_a_first_line_longer_than_the_prefix_is_refused() -> None:
    with pytest.raises(DatasetError) as info:
        sniff_csv(b"a" * PREFIX_BYTES, complete=False)
    assert info.value.details["reason"] == "not_csv"
    assert "line break" in info.value.message
