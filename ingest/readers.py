"""Bytes to text and text to rows: encodings and tabular file formats.

Every failure is an `InputFileError` naming the file and the reason, so one bad file is reported
and skipped while the others go in.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputFileError

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".xlsx")
ARTICLE_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")

# A decoded GB18030 text is accepted only if most of its non-ASCII characters are CJK ideographs or
# CJK punctuation: GB18030 decodes many byte soups without error, so "no error" alone proves nothing.
_MIN_CJK_SHARE = 0.8


@dataclass
class Table:
    """Rows of one tabular file, as strings keyed by the file's own headers."""

    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (1-based line or record number, row)
    encoding: str
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


#: What is tried, in order, when no encoding is given.
TRIED = "UTF-8, UTF-16 with a byte-order mark, GB18030/GBK"
_REFUSED_HINT = "convert it to UTF-8, or name its encoding with --encoding (e.g. --encoding shift_jis)"


def decode_text(data: bytes, path: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes as `encoding` when given, else UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK
    when the result reads as Chinese words; never a guess that only happens not to fail.

    Returns:
        The text and the encoding's name.

    Raises:
        InputFileError: the file is empty, binary, not valid in the given encoding, or in none of those
            encodings with confidence (the reason names the encodings tried).
    """
    if not data.strip():
        raise InputFileError(path, "empty file")
    if encoding:
        return _given(data, encoding, path), encoding
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[len(codecs.BOM_UTF8) :], "utf-8", path), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16", path), "utf-16"
    if b"\x00" in data[:8192]:
        raise InputFileError(path, "binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise InputFileError(path, f"not text in any encoding tried ({TRIED}); {_REFUSED_HINT}") from None
    if _cjk_share(text) < _MIN_CJK_SHARE or _word_share(text) < _MIN_WORD_SHARE:
        # Shift-JIS, EUC-KR and Big5 bytes are valid GB18030 too, as characters that form no Chinese words.
        raise InputFileError(
            path,
            f"not UTF-8, and as GB18030 it reads as characters that form no Chinese words, so its encoding "
            f"cannot be told with confidence (tried {TRIED}); {_REFUSED_HINT}",
        )
    return text, "gb18030"


def _given(data: bytes, encoding: str, path: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError:
        raise InputFileError(path, f"unknown encoding {encoding!r} (e.g. utf-8, gb18030, big5, shift_jis)") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"not valid {encoding} at byte {exc.start:,}: {exc.reason}") from None


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


def _strict(data: bytes, encoding: str, path: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        reason = f"starts with a {encoding} byte-order mark but is not valid {encoding}: {exc}"
        raise InputFileError(path, reason) from None


def _cjk_share(text: str) -> float:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return 1.0
    cjk = sum(
        1
        for ch in non_ascii
        if "\u4e00" <= ch <= "\u9fff"
        or "\u3000" <= ch <= "\u303f"
        or "\uff00" <= ch <= "\uffef"
        or "\u3400" <= ch <= "\u4dbf"
        or ch in "·—…“”‘’"
    )
    return cjk / len(non_ascii)


@dataclass(frozen=True)
class Limits:
    """How much one file may hold, checked while it is read (never after loading it whole)."""

    max_rows: int = 2_000_000
    max_columns: int = 500
    max_unpacked_bytes: int = 1_000_000_000


def read_table(
    path: Path, data: bytes, display: str, encoding: str | None = None, limits: Limits | None = None
) -> Table:
    """Parse a CSV, TSV, JSON, JSONL or XLSX file into header-keyed string rows (text in `encoding` if given).

    Raises:
        InputFileError: unreadable, or over one of `limits` (the reason names the limit and its setting).
    """
    limits = limits or Limits()
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(data, display, limits)
    text, encoding = decode_text(data, display, encoding)
    text = strip_controls(text)
    if suffix in (".csv", ".tsv"):
        return _read_delimited(text, encoding, display, "\t" if suffix == ".tsv" else None, limits)
    if suffix == ".jsonl":
        return _read_jsonl(text, encoding, display, limits)
    if suffix == ".json":
        return _read_json(text, encoding, display, limits)
    raise InputFileError(display, f"unknown table format {suffix!r}; expected one of {', '.join(TABLE_SUFFIXES)}")


def _too_many_rows(display: str, limits: Limits) -> InputFileError:
    return InputFileError(display, f"more than {limits.max_rows:,} rows (the max_rows limit, "
                          "CAREER_ASSISTANT_MAX_ROWS); split the file or raise the limit")  # fmt: skip


def _check_columns(display: str, count: int, limits: Limits) -> None:
    if count > limits.max_columns:
        raise InputFileError(display, f"more than {limits.max_columns:,} columns (the max_columns limit, "
                             "CAREER_ASSISTANT_MAX_COLUMNS)")  # fmt: skip


def _read_delimited(text: str, encoding: str, display: str, delimiter: str | None, limits: Limits) -> Table:
    if delimiter is None:
        sample = text[:20000]
        try:
            delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw_headers = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(display, f"no header row ({exc or 'file has no rows'})") from None
    _check_columns(display, len(raw_headers), limits)
    headers = [h.strip() for h in raw_headers]
    # pandas writes its index as an unnamed first column (the Lagou files have one).
    if headers and headers[0] == "":
        headers[0] = "_index"
    if len(set(headers)) != len(headers):
        dupes = sorted({h for h in headers if headers.count(h) > 1})
        named = ", ".join(d if len(d) <= 40 else d[:40] + "…" for d in dupes[:12])
        raise InputFileError(display, f"duplicate column names in the header: {named}")
    table = Table(headers=headers, rows=[], encoding=encoding)
    try:
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(headers):
                table.skip(f"ragged row ({len(record)} fields where the header has {len(headers)})")
                continue
            if len(table.rows) >= limits.max_rows:
                raise _too_many_rows(display, limits)
            table.rows.append((reader.line_num, dict(zip(headers, (c.strip() for c in record), strict=True))))
    except csv.Error as exc:
        raise InputFileError(display, f"malformed CSV near line {reader.line_num}: {exc}") from None
    if not table.rows and not table.skipped:
        raise InputFileError(display, "header row but no data rows")
    return table


def _records_to_table(records: list[object], encoding: str, display: str, limits: Limits) -> Table:
    headers: list[str] = []
    known: set[str] = set()
    table = Table(headers=headers, rows=[], encoding=encoding)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            table.skip(f"record is a {type(record).__name__}, not an object")
            continue
        for key in record:
            if _cell(key) not in known:
                known.add(_cell(key))
                headers.append(_cell(key))
        _check_columns(display, len(headers), limits)
        if len(table.rows) >= limits.max_rows:
            raise _too_many_rows(display, limits)
        table.rows.append((number, {_cell(k): _cell(v) for k, v in record.items()}))
    if not table.rows:
        raise InputFileError(display, "no JSON objects with fields found")
    return table


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


def _read_json(text: str, encoding: str, display: str, limits: Limits) -> Table:
    try:
        doc = _loads(text)
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
    return _records_to_table(doc, encoding, display, limits)


def _read_jsonl(text: str, encoding: str, display: str, limits: Limits) -> Table:
    records: list[object] = []
    bad = deep = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(_loads(line))
        except json.JSONDecodeError:
            bad += 1
            records.append(None)
        except RecursionError:
            deep += 1
            records.append(None)
    has_object = any(isinstance(r, dict) for r in records)
    table = _records_to_table(records, encoding, display, limits) if has_object else None
    if table is None:
        raise InputFileError(display, "no line is a JSON object")
    table.skipped.pop("record is a NoneType, not an object", None)
    if bad:
        table.skipped["line is not valid JSON"] = bad
    if deep:
        table.skipped["line nested too deeply to read"] = deep
    return table


def _read_xlsx(data: bytes, display: str, limits: Limits) -> Table:
    import zipfile

    from openpyxl import load_workbook

    _check_unpacked(data, display, limits)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputFileError(display, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheet = workbook.worksheets[0]
        # The sheet's declared size ("A1:XFD1048576") is not believed: cells are read as they come, and no row
        # is read wider than the column limit allows (one cell at XFD would otherwise make 16,384 columns).
        sheet.reset_dimensions()
        rows: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True, max_col=limits.max_columns + 1)
        header_row = next(rows, None)
        if header_row is None or all(v is None for v in header_row):
            raise InputFileError(display, "first sheet has no header row")
        header_row = tuple(header_row)
        while header_row and header_row[-1] is None:
            header_row = header_row[:-1]
        _check_columns(display, len(header_row), limits)
        headers = [_cell(v) or f"column_{i + 1}" for i, v in enumerate(header_row)]
        table = Table(headers=headers, rows=[], encoding="xlsx")
        blank: object = None
        for number, values in enumerate(rows, start=2):
            if values is blank:  # the reader hands out one shared tuple for every missing row
                continue
            if all(v is None or str(v).strip() == "" for v in values):
                blank = values
                continue
            if len(table.rows) >= limits.max_rows:
                raise _too_many_rows(display, limits)
            cells = [_cell(v) for v in values][: len(headers)]
            cells += [""] * (len(headers) - len(cells))
            table.rows.append((number, dict(zip(headers, cells, strict=True))))
    finally:
        workbook.close()
    if not table.rows:
        raise InputFileError(display, "header row but no data rows")
    return table
