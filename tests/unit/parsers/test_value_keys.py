"""Value keys (parsers/value_keys.py): hand-written lines over two files, in batches and on threads.

The lines are the classes the nginx and Apache docs and RFC 9112 describe (combined, a named remote
user, an Apache ``\\"`` escape, nginx's ``"-" 400`` for a connection closed before a request line, a
TLS handshake on the plain port, the HTTP/2 preface); every expected value below is written by hand.
"""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from config.catalog.value_keys import KEY, KEY_COLUMNS, VALUE_KEYS, ValueKey
from config.settings import ParserSettings
from parsers.access_log import parse_access_logs
from parsers.log_format import LogFormatError
from parsers.schema import DICTIONARY_SCHEMAS, PARSED_REQUESTS_SCHEMA
from parsers.value_keys import ValueKeyEncoder
from tests.unit.parsers.keyed import check_value_keys, dictionary_of
from tests.unit.parsers.test_hostile_corpus import corpus
from tests.unit.parsers.test_real_server_lines import CASES

SAMPLE = Path(__file__).resolve().parents[3] / "sample_logs" / "access.log"
DAY = date(2026, 11, 24)
TS = "[24/Nov/2026:13:55:36 +0000]"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
QUOTED = 'Mozilla/5.0 \\"quoted\\" agent'
TLS = r"\x16\x03\x01\x00\xF4\x01\x00\x00\xF0\x03\x03"
SHOP = "https://shop.example/"

FIRST_FILE = [
    f'198.51.100.7 - - {TS} "GET /wp-login.php HTTP/1.1" 200 4521 "-" "{FIREFOX}"',
    f'203.0.113.45 - alice {TS} "POST /login?next=%2F HTTP/1.1" 302 0 "{SHOP}" "curl/8.5.0"',
    f'198.51.100.9 - - {TS} "-" 400 0 "-" "-"',
    f'45.148.10.1 - - {TS} "{TLS}" 400 157 "-" "-"',
    f'198.51.100.7 - - {TS} "GET /wp-login.php HTTP/1.1" 200 4521 "-" "{FIREFOX}"',
    f'2001:db8::7 - - {TS} "PRI * HTTP/2.0" 400 157 "-" "-"',
]
SECOND_FILE = [
    f'203.0.113.45 - alice {TS} "GET /wp-login.php HTTP/1.1" 404 153 "{SHOP}" "{FIREFOX}"',
    f'198.51.100.7 - - {TS} "POST /login?next=%2F HTTP/1.1" 302 0 "-" "curl/8.5.0"',
    f'198.51.100.9 - bob {TS} "-" 400 0 "-" "-"',
    f'192.0.2.33 - - {TS} "GET /search?q=%22x%22 HTTP/1.1" 200 9 "-" "{QUOTED}"',
    # the next day: parsed, outside the window, not written, so none of its values is keyed
    '192.0.2.200 - carol [25/Nov/2026:00:00:00 +0000] "GET /tomorrow HTTP/1.1" 200 1 "https://late.example/" "late/1"',
]

# (file, line number) -> client_ip, user_agent, request, referer, remote_user of the row, by hand
ROWS: dict[tuple[str, int], tuple[str, str | None, str, str | None, str | None]] = {
    ("one.log", 1): ("198.51.100.7", FIREFOX, "GET /wp-login.php HTTP/1.1", None, None),
    ("one.log", 2): ("203.0.113.45", "curl/8.5.0", "POST /login?next=%2F HTTP/1.1", SHOP, "alice"),
    ("one.log", 3): ("198.51.100.9", None, "-", None, None),
    ("one.log", 4): ("45.148.10.1", None, TLS, None, None),
    ("one.log", 5): ("198.51.100.7", FIREFOX, "GET /wp-login.php HTTP/1.1", None, None),
    ("one.log", 6): ("2001:db8::7", None, "PRI * HTTP/2.0", None, None),
    ("two.log", 1): ("203.0.113.45", FIREFOX, "GET /wp-login.php HTTP/1.1", SHOP, "alice"),
    ("two.log", 2): ("198.51.100.7", "curl/8.5.0", "POST /login?next=%2F HTTP/1.1", None, None),
    ("two.log", 3): ("198.51.100.9", None, "-", None, "bob"),
    ("two.log", 4): ("192.0.2.33", QUOTED, "GET /search?q=%22x%22 HTTP/1.1", None, None),
}
KEYED_SOURCES = ("client_ip", "user_agent", "request", "referer", "remote_user")

# request line -> method, path, query, protocol, request_kind (README, "What a request is")
REQUEST_SPLITS = {
    "GET /wp-login.php HTTP/1.1": ("GET", "/wp-login.php", None, "HTTP/1.1", "http"),
    "POST /login?next=%2F HTTP/1.1": ("POST", "/login", "next=%2F", "HTTP/1.1", "http"),
    "-": (None, None, None, None, "empty"),
    TLS: (None, None, None, None, "malformed"),
    "PRI * HTTP/2.0": ("PRI", "*", None, "HTTP/2.0", "http"),
    "GET /search?q=%22x%22 HTTP/1.1": ("GET", "/search", "q=%22x%22", "HTTP/1.1", "http"),
}


def _declared(dictionary: str) -> ValueKey:
    return next(value_key for value_key in VALUE_KEYS if value_key.dictionary == dictionary)


def _parse(tmp_path: Path, files: dict[str, list[str] | bytes], **options: object) -> tuple[pl.DataFrame, Path]:
    """Parse ``files`` (name -> lines or bytes) in one call; (requests as written, the output directory)."""
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    paths = []
    for name, lines in files.items():
        path = run / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
        paths.append(path)
    out = run / "out"
    parse_access_logs(paths, DAY, out / "requests.parquet", out / "rejected.parquet", ParserSettings(**options))
    return pl.read_parquet(out / "requests.parquet"), out


@pytest.mark.parametrize(("batch_lines", "threads"), [(1, 1), (1, 3), (2, 2), (3, 4), (100_000, 2)])
def test_equal_values_get_equal_keys_across_files_batches_and_threads(
    tmp_path: Path, batch_lines: int, threads: int
) -> None:
    requests, out = _parse(
        tmp_path, {"one.log": FIRST_FILE, "two.log": SECOND_FILE}, batch_lines=batch_lines, parse_threads=threads
    )
    check_value_keys(requests, out)
    files = requests.get_column("source_file").map_elements(lambda text: Path(text).name, return_dtype=pl.String)
    rows = requests.with_columns(files.alias("file")).sort("file", "line_number")
    assert [(row["file"], row["line_number"]) for row in rows.iter_rows(named=True)] == list(ROWS)
    for position, source in enumerate(KEYED_SOURCES):
        value_key = next(declared for declared in VALUE_KEYS if declared.source == source)
        dictionary = dict(dictionary_of(out, value_key).select(KEY, source).iter_rows())
        keys = rows.get_column(value_key.key_column).to_list()
        resolved = [None if key is None else dictionary[key] for key in keys]
        assert resolved == [values[position] for values in ROWS.values()], source
        assert len(dictionary) == len({values[position] for values in ROWS.values()} - {None}), source
    assert set(dictionary_of(out, _declared("client_keys")).get_column("client_ip")) == {
        "198.51.100.7", "203.0.113.45", "198.51.100.9", "45.148.10.1", "2001:db8::7", "192.0.2.33",
    }, "the next day's client is not keyed: its row is not written"
    request_keys = dictionary_of(out, _declared("request_keys"))
    assert {row[0]: row[1:] for row in request_keys.drop(KEY).rows()} == REQUEST_SPLITS
    assert rows.get_column("vhost_key").null_count() == rows.height
    assert dictionary_of(out, _declared("vhost_keys")).height == 0
    file_keys = rows.group_by("file").agg(pl.col("file_key").unique()).sort("file").rows()
    assert len(file_keys) == 2 and all(len(keys) == 1 for _, keys in file_keys) and file_keys[0][1] != file_keys[1][1]


def test_the_other_columns_are_those_of_a_parse_in_one_batch(tmp_path: Path) -> None:
    files = {"one.log": FIRST_FILE, "two.log": SECOND_FILE}
    plain, _ = _parse(tmp_path, files, batch_lines=100_000, parse_threads=1)
    threaded, _ = _parse(tmp_path, files, batch_lines=1, parse_threads=3)
    assert list(plain.columns) == [*PARSED_REQUESTS_SCHEMA, *KEY_COLUMNS]
    assert threaded.drop(*KEY_COLUMNS, "source_file").equals(plain.drop(*KEY_COLUMNS, "source_file"))
    assert plain.get_column("status").to_list() == [200, 302, 400, 400, 200, 400, 404, 302, 400, 200]


def _corpora_files() -> dict[str, list[str] | bytes]:
    """One file per hand-written real-server class (each in its own format), those of them in
    `combined` in one file, the hostile corpus and the generated sample day."""
    files: dict[str, list[str] | bytes] = {f"case{number}.log": lines for number, (_, lines, _, _) in enumerate(CASES)}
    files["combined.log"] = [lines[0].rstrip("\r") for _, lines, name, _ in CASES if name == "combined"] * 3
    files["hostile.log"] = corpus()[0]
    files["sample.log"] = SAMPLE.read_bytes()
    return files


def test_the_request_line_decides_method_path_query_protocol_and_kind(tmp_path: Path) -> None:
    """The dictionary holds one split per request line, taken from its rows: this holds only while
    the parser splits a request line the same way on every path (compiled, regex, fallback formats)."""
    requests, out = _parse(tmp_path, _corpora_files(), batch_lines=7, parse_threads=3)
    check_value_keys(requests, out)
    split = pl.struct("method", "path", "query", "protocol", "request_kind")
    per_key = requests.group_by("request_key").agg(split.n_unique().alias("splits"), pl.col("request").n_unique())
    assert per_key.get_column("splits").max() == 1 and per_key.get_column("request").max() == 1
    per_line = requests.group_by("request").agg(split.n_unique().alias("splits"))
    assert per_line.get_column("splits").max() == 1
    assert requests.filter(pl.col("request") == "PRI * HTTP/2.0").get_column("request_key").n_unique() == 1


def _frame(client_ips: list[str]) -> pl.DataFrame:
    """Parsed rows with only client_ip set, every other column null: what ``encode`` reads."""
    return pl.DataFrame({"client_ip": client_ips}).select(
        pl.col(name) if name == "client_ip" else pl.lit(None, dtype).alias(name)
        for name, dtype in PARSED_REQUESTS_SCHEMA.items()
    )


def test_keys_survive_batches_no_frame_keeps_alive() -> None:
    """polars frees a category set that no frame uses; the encoder keeps its own alive, so a value seen
    in a batch since dropped keeps its key and a new value never reuses it."""
    encoder = ValueKeyEncoder()
    first = encoder.encode(_frame(["192.0.2.1", "192.0.2.2"])).get_column("client_key").to_list()
    gc.collect()
    second = encoder.encode(_frame(["192.0.2.3", "192.0.2.1"])).get_column("client_key").to_list()
    assert second[1] == first[0] and second[0] not in first and first[0] != first[1]
    dictionary = encoder.dictionary(_declared("client_keys"))
    assert sorted(dictionary.get_column("client_ip")) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_threads_keying_the_same_values_agree() -> None:
    """16 batches of 2,000 rows on 8 threads: row j of batch b holds ``10.0.{m // 256}.{m % 256}`` with
    m = (7 b + j) mod 1009, so the batches share values and together hold exactly 1,009 of them."""
    batches = [
        _frame([f"10.0.{(7 * batch + row) % 1009 // 256}.{(7 * batch + row) % 1009 % 256}" for row in range(2_000)])
        for batch in range(16)
    ]
    encoder = ValueKeyEncoder()
    with ThreadPoolExecutor(max_workers=8) as pool:
        keyed = pl.concat(list(pool.map(encoder.encode, batches)))
    pairs = keyed.select("client_ip", "client_key").unique()
    assert pairs.height == 1_009
    assert pairs.get_column("client_key").n_unique() == 1_009 and pairs.get_column("client_ip").n_unique() == 1_009
    dictionary = encoder.dictionary(_declared("client_keys"))
    assert dictionary.sort(KEY).rows() == pairs.select("client_key", "client_ip").sort("client_key").rows()


def test_no_request_writes_every_dictionary_empty(tmp_path: Path) -> None:
    line = '192.0.2.200 - - [25/Nov/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "late/1"'
    requests, out = _parse(tmp_path, {"late.log": [line]})
    assert requests.height == 0
    for name in ("client_keys", "agent_keys", "request_keys", "referer_keys", "vhost_keys", "remote_user_keys",
                 "file_keys"):
        written = pl.read_parquet(out / f"{name}.parquet")
        assert written.height == 0 and dict(written.schema) == DICTIONARY_SCHEMAS[name]


def test_a_failed_parse_publishes_no_dictionary(tmp_path: Path) -> None:
    good, garbage = tmp_path / "good.log", tmp_path / "garbage.log"
    good.write_text("\n".join(FIRST_FILE) + "\n")
    garbage.write_text("hello\nworld\n")
    out = tmp_path / "out"
    with pytest.raises(LogFormatError, match="garbage.log"):
        parse_access_logs([good, garbage], DAY, out / "requests.parquet", out / "rejected.parquet", ParserSettings(),
                          timedelta(0))
    assert sorted(path.name for path in out.iterdir()) == []


def test_kept_request_splits_hold_their_own_strings_not_the_batch() -> None:
    """A gather of polars string views points into the batch's buffers (the whole lines, when the
    compiled path parsed them): the encoder copies the few rows it keeps, or each batch with a new
    request line would be held to the end of the parse (3.3 GiB at 10M lines before the copy)."""
    target = "/" + "x" * 300  # past the 12 bytes a view holds inline: the string lives in a buffer
    batch = _frame(["192.0.2.1"] * 20_000).with_columns(
        pl.Series("request", [f"GET {target}/{number % 3} HTTP/1.1" for number in range(20_000)]),
        pl.lit("GET").alias("method"),
        pl.Series("path", [f"{target}/{number % 3}" for number in range(20_000)]),
        pl.lit("HTTP/1.1").alias("protocol"),
        pl.lit("http").alias("request_kind"),
    )
    encoder = ValueKeyEncoder()
    encoder.encode(batch)
    kept = pl.concat(encoder._carried["request_keys"]).to_arrow(compat_level=pl.CompatLevel.newest())
    held = sum(buffer.size for column in kept.columns for chunk in column.chunks for buffer in chunk.buffers()
               if buffer is not None)
    assert kept.num_rows == 3 and held < 10_000, "3 paths of 306 bytes, not the batch's 6 MB"
