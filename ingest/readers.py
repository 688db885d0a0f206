"""Bytes to text and text to rows: encodings and tabular file formats.

Every failure is an `InputFileError` naming the file and the reason, so one bad file is reported
and skipped while the others go in.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import InputFileError

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".xlsx")
ARTICLE_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")

# A decoded GB18030 text is accepted only if most of its non-ASCII characters are CJK ideographs or
# CJK punctuation: GB18030 decodes many byte soups without error, so "no error" alone proves nothing.
_MIN_CJK_SHARE = 0.8


Row = tuple[int, dict[str, str]]  # (1-based line or record number, the row's cells by header)
Skip = Callable[[str], None]


class Rows:
    """A file's rows, read again from its bytes each time they are iterated: a file of any length costs its
    bytes and one row at a time, never a list of every row. `len()` is the count the first pass found."""

    def __init__(self, produce: Callable[[Skip], Iterator[Row]], count: int) -> None:
        self._produce, self._count = produce, count

    def __iter__(self) -> Iterator[Row]:
        return self._produce(lambda reason: None)  # skips were counted by the first pass

    def __len__(self) -> int:
        return self._count


@dataclass
class Table:
    """Rows of one tabular file, as strings keyed by the file's own headers."""

    headers: list[str]
    rows: Rows
    encoding: str
    skipped: dict[str, int] = field(default_factory=dict)


#: What is tried, in order, when no encoding is given.
TRIED = "UTF-8, UTF-16 with a byte-order mark, GB18030/GBK"
_REFUSED_HINT = "convert it to UTF-8, or name its encoding with --encoding (e.g. --encoding shift_jis)"
#: Bytes decoded at a time while an encoding is checked: the check never holds the whole text.
_SLICE = 1 << 20


def decode_text(data: bytes, path: str, encoding: str | None = None) -> tuple[str, str]:
    """The whole text of `data` (for articles); see `detect_encoding`.

    Returns:
        The text and the encoding's name.
    """
    encoding = detect_encoding(data, path, encoding)
    return data.decode(encoding), encoding


def detect_encoding(data: bytes, path: str, encoding: str | None = None) -> str:
    """The encoding `data` is in: `encoding` when given (checked), else UTF-8 (with or without BOM), UTF-16 with
    BOM, or GB18030/GBK when the result reads as Chinese words; never a guess that only happens not to fail.
    The bytes are checked a slice at a time, so a large file is never held twice.

    Raises:
        InputFileError: the file is empty, binary, not valid in the given encoding, or in none of those
            encodings with confidence (the reason names the encodings tried).
    """
    if not data or data.isspace():
        raise InputFileError(path, "empty file")
    if encoding:
        _check(data, encoding, path)
        return encoding
    if data.startswith(codecs.BOM_UTF8):
        _check(data, "utf-8-sig", path, bom=True)
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        _check(data, "utf-16", path, bom=True)
        return "utf-16"
    if b"\x00" in data[:8192]:
        raise InputFileError(path, "binary content (NUL bytes), not a text file")
    if _decodes(data, "utf-8"):
        return "utf-8"
    shares = _decodes(data, "gb18030", measure=True)
    if shares is None:
        raise InputFileError(path, f"not text in any encoding tried ({TRIED}); {_REFUSED_HINT}")
    cjk_share, sample = shares
    if cjk_share < _MIN_CJK_SHARE or _word_share(sample) < _MIN_WORD_SHARE:
        # Shift-JIS, EUC-KR and Big5 bytes are valid GB18030 too, as characters that form no Chinese words.
        raise InputFileError(
            path,
            f"not UTF-8, and as GB18030 it reads as characters that form no Chinese words, so its encoding "
            f"cannot be told with confidence (tried {TRIED}); {_REFUSED_HINT}",
        )
    return "gb18030"


def _decodes(data: bytes, encoding: str, measure: bool = False) -> Any:
    """Whether `data` is valid `encoding` (decoded a slice at a time); with `measure`, None when it is not,
    else (the share of its non-ASCII characters that are CJK, the first `_WORD_SAMPLE` characters)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    non_ascii = cjk = 0
    sample = ""
    try:
        for start in range(0, len(data), _SLICE):
            text = decoder.decode(view[start : start + _SLICE], final=start + _SLICE >= len(data))
            if measure:
                if len(sample) < _WORD_SAMPLE:
                    sample += text[: _WORD_SAMPLE - len(sample)]
                wide = _NON_ASCII.findall(text)
                non_ascii += sum(len(run) for run in wide)
                cjk += sum(len(run) for run in _CJK.findall("".join(wide)))
    except UnicodeDecodeError:
        return None if measure else False
    if not measure:
        return True
    return (cjk / non_ascii if non_ascii else 1.0), sample


def _check(data: bytes, encoding: str, path: str, bom: bool = False) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputFileError(path, f"unknown encoding {encoding!r} (e.g. utf-8, gb18030, big5, shift_jis)") from None
    if _decodes(data, encoding):
        return
    try:  # the error, with its exact position: decoded whole only to say where it fails
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        if bom:
            reason = f"starts with a {encoding} byte-order mark but is not valid {encoding}: {exc}"
            raise InputFileError(path, reason) from None
        raise InputFileError(path, f"not valid {encoding} at byte {exc.start:,}: {exc.reason}") from None
    raise InputFileError(path, f"not valid {encoding}")


#: Share of a GB18030-decoded text's Chinese characters that fall in dictionary words of two or more characters:
#: ~0.8-0.9 in the bundled postings, 0.0 for Japanese, Korean or Big5 text read as GB18030.
_MIN_WORD_SHARE = 0.4
_WORD_SAMPLE = 20_000


def _word_share(text: str) -> float:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # not its dictionary-loading lines in ingest's output
    sample = text[:_WORD_SAMPLE]
    chinese = in_words = 0
    for word in jieba.cut(sample, HMM=False):
        n = sum(1 for ch in word if "\u4e00" <= ch <= "\u9fff")
        chinese += n
        if n > 1 and n == len(word):
            in_words += n
    return in_words / chinese if chinese else 1.0


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# CJK ideographs and punctuation, full-width forms, extension A, and the punctuation Chinese text borrows.
_CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef\u3400-\u4dbf·—…“”‘’]")


@dataclass(frozen=True)
class Limits:
    """How much one file may hold, checked while it is read (never after loading it whole)."""

    max_rows: int = 2_000_000
    max_columns: int = 500
    max_unpacked_bytes: int = 1_000_000_000
    max_cell_chars: int = 100_000

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings set (`max_rows`, `max_columns`, `max_unpacked_mb`, `max_cell_chars`)."""
        unpacked = int(settings.max_unpacked_mb * 1e6)
        return cls(settings.max_rows, settings.max_columns, unpacked, settings.max_cell_chars)


def read_table(
    path: Path, data: bytes, display: str, encoding: str | None = None, limits: Limits | None = None
) -> Table:
    """Parse a CSV, TSV, JSON, JSONL or XLSX file into header-keyed string rows (text in `encoding` if given).

    The file is read through once here, a row at a time, to check it (limits, shape, at least one row) and
    count what is skipped; its rows are read again from `data` whenever `Table.rows` is iterated.

    Raises:
        InputFileError: unreadable, or over one of `limits` (the reason names the limit and its setting).
    """
    limits = limits or Limits()
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(data, display, limits)
    if suffix not in (".csv", ".tsv", ".json", ".jsonl"):
        raise InputFileError(display, f"unknown table format {suffix!r}; expected one of {', '.join(TABLE_SUFFIXES)}")
    encoding = detect_encoding(data, display, encoding)
    if suffix in (".csv", ".tsv"):
        return _read_delimited(data, encoding, display, "\t" if suffix == ".tsv" else None, limits)
    if suffix == ".jsonl":
        return _read_jsonl(data, encoding, display, limits)
    return _read_json(data, encoding, display, limits)


def _lines(data: bytes, encoding: str) -> Iterator[str]:
    """The text's lines (line breaks kept, for the CSV reader), decoded as they are read, controls stripped."""
    for line in io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""):
        yield strip_controls(line)


def _counted(
    produce: Callable[[Skip], Iterator[Row]], headers: list[str], encoding: str, display: str, limits: Limits
) -> Table:
    """The first pass over a file's rows: counts rows and skips, enforces the row limit, keeps no row."""
    skipped: Counter[str] = Counter()

    def skip(reason: str) -> None:
        skipped[reason] += 1

    count = 0
    for _ in produce(skip):
        count += 1
        if count > limits.max_rows:
            raise InputFileError(display, f"more than {limits.max_rows:,} rows (the max_rows limit, "
                                 "CAREER_ASSISTANT_MAX_ROWS); split the file or raise the limit")  # fmt: skip
    return Table(headers=headers, rows=Rows(produce, count), encoding=encoding, skipped=dict(skipped))


def _check_columns(display: str, count: int, limits: Limits) -> None:
    if count > limits.max_columns:
        raise InputFileError(display, f"more than {limits.max_columns:,} columns (the max_columns limit, "
                             "CAREER_ASSISTANT_MAX_COLUMNS)")  # fmt: skip


_CELL_SETTING = "max_cell_chars, CAREER_ASSISTANT_MAX_CELL_CHARS"


def _check_cell(display: str, where: str, value: str, limits: Limits) -> str:
    if len(value) > limits.max_cell_chars:
        raise InputFileError(display, f"{where}: a value of {len(value):,} characters, over the "
                             f"{limits.max_cell_chars:,} limit ({_CELL_SETTING})")  # fmt: skip
    return value


def _read_delimited(data: bytes, encoding: str, display: str, delimiter: str | None, limits: Limits) -> Table:
    if delimiter is None:
        first = next(_lines(data, encoding), "")
        try:
            delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    # The csv module's own field limit (131,072 characters, process-wide) is set to ours on every pass, so a huge
    # cell stops the reader early; each cell is checked against the limit itself as it is read.
    csv.field_size_limit(max(limits.max_cell_chars + 1, 1024))
    reader = csv.reader(_lines(data, encoding), delimiter=delimiter)
    try:
        raw_headers = next(reader)
    except StopIteration:
        raise InputFileError(display, "no header row (file has no rows)") from None
    except csv.Error as exc:
        raise InputFileError(display, f"no header row ({exc})") from None
    _check_columns(display, len(raw_headers), limits)
    headers = [_check_cell(display, "the header", h.strip(), limits) for h in raw_headers]
    # pandas writes its index as an unnamed first column (the Lagou files have one).
    if headers and headers[0] == "":
        headers[0] = "_index"
    if len(set(headers)) != len(headers):
        dupes = sorted({h for h in headers if headers.count(h) > 1})
        named = ", ".join(d if len(d) <= 40 else d[:40] + "…" for d in dupes[:12])
        raise InputFileError(display, f"duplicate column names in the header: {named}")

    def produce(skip: Skip) -> Iterator[Row]:
        csv.field_size_limit(max(limits.max_cell_chars + 1, 1024))
        reader = csv.reader(_lines(data, encoding), delimiter=delimiter)
        try:
            next(reader)  # the header
            for record in reader:
                if not record or all(not cell.strip() for cell in record):
                    continue
                where = f"line {reader.line_num:,}"
                cells = [_check_cell(display, where, cell.strip(), limits) for cell in record]
                if len(cells) != len(headers):
                    skip(f"ragged row ({len(cells)} fields where the header has {len(headers)})")
                    continue
                yield reader.line_num, dict(zip(headers, cells, strict=True))
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                where = f"near line {reader.line_num}"
                raise InputFileError(display, f"{where}: a value over the {limits.max_cell_chars:,}-character "
                                     f"limit ({_CELL_SETTING})") from None  # fmt: skip
            raise InputFileError(display, f"malformed CSV near line {reader.line_num}: {exc}") from None

    table = _counted(produce, headers, encoding, display, limits)
    if not table.rows and not table.skipped:
        raise InputFileError(display, "header row but no data rows")
    return table


def _records(
    records: Callable[[Skip], Iterator[tuple[int, object]]], encoding: str, display: str, limits: Limits
) -> Table:
    """A table from JSON values; objects become rows, anything else is skipped with its type named. The
    headers are every key seen, in order of first appearance (found by the first pass)."""
    headers: list[str] = []
    known: set[str] = set()

    def produce(skip: Skip) -> Iterator[Row]:
        for number, record in records(skip):
            if not isinstance(record, dict):
                skip(f"record is a {type(record).__name__}, not an object")
                continue
            row = {_cell(k): _check_cell(display, f"record {number:,}", _cell(v), limits) for k, v in record.items()}
            for key in row:
                if key not in known:
                    known.add(key)
                    headers.append(key)
                    _check_columns(display, len(headers), limits)
            yield number, row

    return _counted(produce, headers, encoding, display, limits)


def _check_unpacked(data: bytes, display: str, limits: Limits) -> None:
    """Refuse a workbook whose parts unpack to more than the limit, before anything is unpacked."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputFileError(display, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    if unpacked > limits.max_unpacked_bytes:
        raise InputFileError(
            display,
            f"unpacks to {unpacked / 1e6:,.0f} MB, over the {limits.max_unpacked_bytes / 1e6:,.0f} MB limit "
            "(max_unpacked_mb, CAREER_ASSISTANT_MAX_UNPACKED_MB)",
        )


_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: Terminal escape sequences (colours, cursor moves) and the other control characters: text from a file is
#: stored and shown as text, never as instructions to a terminal. Tabs and line breaks stay.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences and control characters (tabs and line breaks kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value).strip()
    # JSON may escape half of a UTF-16 pair ("\ud800"): not a character; kept visibly as U+FFFD.
    return strip_controls(_SURROGATE.sub("\ufffd", text))


def _json_int(digits: str) -> int | str:
    """A JSON integer; one too long to be a number anyone wrote on purpose stays text (Python refuses to
    convert past 4,300 digits, which would fail the whole file)."""
    return int(digits) if len(digits) <= 64 else digits


def _loads(text: str) -> object:
    return json.loads(text, parse_int=_json_int)


def _read_json(data: bytes, encoding: str, display: str, limits: Limits) -> Table:
    """A JSON document is parsed whole (it is one value); its size is bounded by max_file_mb. Prefer JSON
    Lines for large exports: they are read a line at a time."""
    try:
        doc = _loads(strip_controls(data.decode(encoding)))
    except json.JSONDecodeError as exc:
        raise InputFileError(display, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputFileError(display, "JSON nested too deeply to read (lists or objects inside each other "
                             "about a thousand levels deep)") from None  # fmt: skip
    if isinstance(doc, dict):
        # Exports often wrap the list: {"data": [...]} or {"jobs": [...]}; take the one list of objects.
        lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(lists) != 1:
            raise InputFileError(display, "expected a JSON list of objects (or an object holding one such list)")
        doc = lists[0]
    if not isinstance(doc, list):
        raise InputFileError(display, f"expected a JSON list of objects, found a {type(doc).__name__}")
    values: list[object] = doc
    table = _records(lambda skip: enumerate(values, start=1), encoding, display, limits)
    if not table.rows:
        raise InputFileError(display, "no JSON objects with fields found")
    return table


def _read_jsonl(data: bytes, encoding: str, display: str, limits: Limits) -> Table:
    def values(skip: Skip) -> Iterator[tuple[int, object]]:
        number = 0
        for line in _lines(data, encoding):
            if not line.strip():
                continue
            number += 1
            try:
                value = _loads(line)
            except json.JSONDecodeError:
                skip("line is not valid JSON")
                continue
            except RecursionError:
                skip("line nested too deeply to read")
                continue
            yield number, value

    table = _records(values, encoding, display, limits)
    if not table.rows:
        raise InputFileError(display, "no line is a JSON object")
    return table


def _read_xlsx(data: bytes, display: str, limits: Limits) -> Table:
    _check_unpacked(data, display, limits)
    with _first_sheet(data, display, limits) as rows:
        header_row = next(rows, None)
    if header_row is None or all(v is None for v in header_row):
        raise InputFileError(display, "first sheet has no header row")
    header_row = tuple(header_row)
    while header_row and header_row[-1] is None:
        header_row = header_row[:-1]
    _check_columns(display, len(header_row), limits)
    headers = [
        _check_cell(display, "the header", _cell(v), limits) or f"column_{i + 1}" for i, v in enumerate(header_row)
    ]

    def produce(skip: Skip) -> Iterator[Row]:
        with _first_sheet(data, display, limits) as rows:
            next(rows, None)  # the header
            blank: object = None
            for number, values in enumerate(rows, start=2):
                if values is blank:  # the reader hands out one shared tuple for every missing row
                    continue
                if all(v is None or str(v).strip() == "" for v in values):
                    blank = values
                    continue
                cells = [_check_cell(display, f"row {number:,}", _cell(v), limits) for v in values][: len(headers)]
                cells += [""] * (len(headers) - len(cells))
                yield number, dict(zip(headers, cells, strict=True))

    table = _counted(produce, headers, "xlsx", display, limits)
    if not table.rows:
        raise InputFileError(display, "header row but no data rows")
    return table


@contextlib.contextmanager
def _first_sheet(data: bytes, display: str, limits: Limits) -> Iterator[Iterator[tuple[object, ...]]]:
    """The first sheet's rows as value tuples, read as they come, never wider than the column limit allows."""
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputFileError(display, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheet = workbook.worksheets[0]
        # The sheet's declared size ("A1:XFD1048576") is not believed: cells are read as they come, and no row
        # is read wider than the column limit allows (one cell at XFD would otherwise make 16,384 columns).
        sheet.reset_dimensions()
        yield sheet.iter_rows(values_only=True, max_col=limits.max_columns + 1)
    finally:
        workbook.close()
