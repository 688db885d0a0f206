"""Encodings and tabular formats, with the real bundled files and small made-up ones."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.errors import InputFileError
from ingest.readers import Limits, Table, decode_text, read_table

CSV_ZH = "职位名称,城市,薪资\n算法工程师,北京,15k-30k\n数据分析师,上海,1-1.5万\n"


@pytest.mark.parametrize(
    "data, encoding",
    [
        (CSV_ZH.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + CSV_ZH.encode("utf-8"), "utf-8-sig"),
        (CSV_ZH.encode("gbk"), "gb18030"),
        (CSV_ZH.encode("gb18030"), "gb18030"),
        (CSV_ZH.encode("utf-16"), "utf-16"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030", "utf16-bom"],
)
def test_encodings_are_detected_not_guessed(data: bytes, encoding: str) -> None:
    text, found = decode_text(data, "x.csv")
    assert found == encoding
    assert text.lstrip("\ufeff") == CSV_ZH


def test_real_zhaopin_file_is_read_as_gbk(bundled_corpus: Path) -> None:
    path = bundled_corpus / "postings/zhaopin_ai_2025/ai_jobs.csv"
    table = read_table(path, path.read_bytes(), "ai_jobs.csv")
    assert table.encoding == "gb18030"
    assert table.headers[:3] == ["城市", "岗位", "薪酬"]
    assert next(iter(table.rows))[1]["岗位"] == "人工智能开发工程师"
    assert len(table.rows) == 2775


def test_real_lagou_file_keeps_its_index_column(bundled_corpus: Path) -> None:
    path = bundled_corpus / "postings/lagou_2017/nlp.csv"
    table = read_table(path, path.read_bytes(), "nlp.csv")
    assert table.headers[0] == "_index" and "职位编码" in table.headers
    assert len(table.rows) == 325 and not table.skipped


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
        (b"PK\x03\x04\x00\x00binary\x00stuff" * 10, "binary content"),
        (bytes(range(128, 256)) * 40, "encodings? tried"),
    ],
    ids=["empty", "blank", "nul-bytes", "byte-soup"],
)
def test_bad_bytes_get_a_specific_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InputFileError, match=reason):
        decode_text(data, "bad.csv")


JA = "職種,勤務地,給与\nソフトウェア開発者,東京,月給30万円\n機械学習エンジニア,大阪,年収600万円\n"
KO = "직무,도시,급여\n소프트웨어 개발자,서울,연봉 5천만원\n머신러닝 엔지니어,부산,협의\n"
ZH_TW = "職位名稱,城市,薪資\n自然語言處理工程師,台北,面議\n資料探勘演算法工程師,新竹,五萬\n"


@pytest.mark.parametrize(
    "text, codec", [(JA, "shift_jis"), (JA, "euc_jp"), (KO, "euc_kr"), (ZH_TW, "big5")],
    ids=["shift-jis", "euc-jp", "euc-kr", "big5"],
)  # fmt: skip
def test_an_encoding_that_cannot_be_told_is_refused_not_decoded_into_noise(text: str, codec: str) -> None:
    data = text.encode(codec)
    with pytest.raises(InputFileError) as err:
        decode_text(data, "jobs.csv")
    reason = err.value.reason
    assert "cannot be told with confidence" in reason or "not text in any encoding tried" in reason
    assert "UTF-8, UTF-16 with a byte-order mark, GB18030/GBK" in reason and "--encoding" in reason
    # Named, it is read as written.
    assert decode_text(data, "jobs.csv", codec) == (text, codec)


def test_a_named_encoding_is_checked() -> None:
    with pytest.raises(InputFileError, match="unknown encoding 'klingon'"):
        decode_text(b"title\nx\n", "a.csv", "klingon")
    with pytest.raises(InputFileError, match="not valid shift_jis at byte 6"):
        decode_text(b"title\n\x81\x00\n", "a.csv", "shift_jis")


def test_ragged_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    data = "title,city,salary\nA,北京,10k-20k\nB,上海\nC,深圳,5k-8k,extra\nD,杭州,8k-12k\n".encode()
    table = read_table(tmp_path / "r.csv", data, "r.csv")
    assert [r["title"] for _, r in table.rows] == ["A", "D"]
    assert sum(table.skipped.values()) == 2
    assert any("ragged row (2 fields" in reason for reason in table.skipped)


def test_tsv_json_jsonl_and_sniffed_semicolons(tmp_path: Path) -> None:
    rows = [{"title": "NLP工程师", "city": "北京", "salary": "20k-40k"}, {"title": "CV", "city": "深圳", "salary": ""}]
    tsv = "title\tcity\tsalary\nNLP工程师\t北京\t20k-40k\nCV\t深圳\t\n".encode()
    semi = "title;city;salary\nNLP工程师;北京;20k-40k\nCV;深圳;\n".encode()
    as_json = json.dumps({"jobs": rows}, ensure_ascii=False).encode()
    as_jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode() + b"\n{broken\n"
    for name, data in (("a.tsv", tsv), ("a.csv", semi), ("a.json", as_json), ("a.jsonl", as_jsonl)):
        table = read_table(tmp_path / name, data, name)
        assert [r for _, r in table.rows] == rows, name
    assert read_table(tmp_path / "a.jsonl", as_jsonl, "a.jsonl").skipped == {"line is not valid JSON": 1}


def test_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["职位名称", "城市", "薪资", "发布日期"])
    sheet.append(["大模型算法工程师", "杭州", "30-60K·14薪", None])
    sheet.append([None, None, None, None])
    sheet.append(["数据开发", "北京", 15000, "2025-03-01"])
    book.save(tmp_path / "jobs.xlsx")
    data = (tmp_path / "jobs.xlsx").read_bytes()
    table = read_table(tmp_path / "jobs.xlsx", data, "jobs.xlsx")
    assert table.headers == ["职位名称", "城市", "薪资", "发布日期"]
    assert [r["职位名称"] for _, r in table.rows] == ["大模型算法工程师", "数据开发"]
    assert list(table.rows)[1][1]["薪资"] == "15000"


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("x.xlsx", b"this is not a zip file at all", "not a readable .xlsx"),
        ("x.json", b'{"a": [1, 2', "invalid JSON"),
        ("x.json", b'"just a string"', "expected a JSON list"),
        ("x.csv", b"title,city,salary\n", "no data rows"),
        ("x.csv", b"title,title,salary\na,b,c\n", "duplicate column names"),
        ("x.jsonl", b"1\n2\n", "no line is a JSON object"),
    ],
)
def test_malformed_tables(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(InputFileError, match=reason):
        read_table(tmp_path / name, data, name)


def test_json_too_deep_too_long_or_half_a_character_costs_only_what_it_touches(tmp_path: Path) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    with pytest.raises(InputFileError, match="JSON nested too deeply to read"):
        read_table(tmp_path / "deep.json", deep, "deep.json")
    good = '{"title": "算法工程师", "pay": "2-3万"}'
    lines = [
        good,
        '{"title": "x", "pay": ' + "[" * 5000 + "]" * 5000 + "}",  # one line too deep
        '{"title": "数据工程师", "pay": ' + "9" * 5000 + "}",  # past Python's int conversion limit
        '{"title": "数据\\ud800工程师", "pay": "2-3万"}',  # half of a UTF-16 pair
    ]
    table = read_table(tmp_path / "mixed.jsonl", "\n".join(lines).encode(), "mixed.jsonl")
    assert table.skipped == {"line nested too deeply to read": 1}
    rows = [fields for _, fields in table.rows]
    assert rows[0] == {"title": "算法工程师", "pay": "2-3万"}
    assert rows[1] == {"title": "数据工程师", "pay": "9" * 5000}  # kept as text; the salary reader refuses it
    assert rows[2]["title"] == "数据\ufffd工程师"


def test_terminal_escapes_and_control_characters_are_not_kept(tmp_path: Path) -> None:
    from ingest.articles import read_article

    csv_data = "title,pay\n\x1b[31m算法工程师\x1b[0m\x07,2-3万\n数据\x00\x1b]0;owned\x07工程师,1-2万\n".encode()
    table = read_table(tmp_path / "c.csv", csv_data.replace(b"\x00", b""), "c.csv")
    assert [fields["title"] for _, fields in table.rows] == ["算法工程师", "数据工程师"]
    jsonl = b'{"title": "\\u001b[1mNLP\\u001b[0m engineer\\u0008", "pay": "2-3\\u0085\\u4e07"}'
    fields = next(iter(read_table(tmp_path / "j.jsonl", jsonl, "j.jsonl").rows))[1]
    assert fields == {"title": "NLP engineer", "pay": "2-3万"}
    html = b"<h1>AI jobs &#27;[31m grow</h1><p>Demand for\x1b[2J NLP engineers doubled.\x0c</p>"
    article = read_article(tmp_path / "a.html", html, "a.html")
    assert "\x1b" not in article.text and "\x0c" not in article.text and "NLP engineers doubled." in article.text


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_sheet(data: bytes, change: Callable[[str], str]) -> bytes:
    """The workbook with its first sheet's XML changed."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = change(body.decode("utf-8")).encode("utf-8")
            dst.writestr(info.filename, body)
    return out.getvalue()


def _in_time(call: Callable[[], object], seconds: float = 60) -> object:
    """The call's result or exception; a call still running after `seconds` fails the test as a hang."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(_outcome(call)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s"
    return box[0]


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except InputFileError as exc:
        return exc


def test_a_sheet_declaring_the_whole_grid_is_read_as_the_cells_it_holds(tmp_path: Path) -> None:
    data = _xlsx([["title", "city", "salary"], ["NLP工程师", "北京", "20k-30k"]])

    def bomb(xml: str) -> str:
        xml = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', xml)
        far = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        return xml.replace("</sheetData>", far + "</sheetData>")

    table = _in_time(lambda: read_table(tmp_path / "a.xlsx", _with_sheet(data, bomb), "a.xlsx"))
    assert isinstance(table, Table) and table.headers == ["title", "city", "salary"]
    assert [r["title"] for _, r in table.rows] == ["NLP工程师"]  # the far cell is past the header's columns

    stray = _with_sheet(data, lambda xml: xml.replace("</row>", '<c r="XFD1"><v>1</v></c></row>', 1))
    table = _in_time(lambda: read_table(tmp_path / "s.xlsx", stray, "s.xlsx"))
    assert isinstance(table, Table) and table.headers == ["title", "city", "salary"]  # past the limit: not read
    wide = _xlsx([[f"column {i}" for i in range(600)], ["x"] * 600])
    refused = _in_time(lambda: read_table(tmp_path / "w.xlsx", wide, "w.xlsx"))
    assert isinstance(refused, InputFileError) and "more than 500 columns" in refused.reason


def test_a_workbook_that_unpacks_past_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>same text</t></is></c></row>' for i in range(2, 60_000)
    )
    data = _with_sheet(
        _xlsx([["title", "city", "salary"]]), lambda xml: xml.replace("</sheetData>", rows + "</sheetData>")
    )
    assert len(data) < 1_000_000  # small on disk
    limits = Limits(max_unpacked_bytes=2_000_000)
    refused = _in_time(lambda: read_table(tmp_path / "z.xlsx", data, "z.xlsx", limits=limits))
    assert isinstance(refused, InputFileError)
    assert "unpacks to" in refused.reason and "over the 2 MB limit (max_unpacked_mb" in refused.reason


def test_rows_and_columns_past_the_limits_are_refused_naming_the_limit(tmp_path: Path) -> None:
    limits = Limits(max_rows=3, max_columns=4)
    many = "title,city,salary\n" + "".join(f"job {i},北京,10k-20k\n" for i in range(5))
    with pytest.raises(InputFileError, match=r"more than 3 rows \(the max_rows limit, CAREER_ASSISTANT_MAX_ROWS\)"):
        read_table(tmp_path / "m.csv", many.encode(), "m.csv", limits=limits)
    wide = ",".join(f"c{i}" for i in range(5)) + "\n" + ",".join("x" * 5) + "\n"
    with pytest.raises(InputFileError, match="more than 4 columns"):
        read_table(tmp_path / "w.csv", wide.encode(), "w.csv", limits=limits)
    keys = "\n".join(json.dumps({f"k{j}": 1 for j in range(i + 1)}) for i in range(6))
    with pytest.raises(InputFileError, match="more than 4 columns"):
        read_table(tmp_path / "k.jsonl", keys.encode(), "k.jsonl", limits=Limits(max_columns=4))


def test_a_value_past_the_cell_limit_refuses_its_file_naming_where_and_the_setting(tmp_path: Path) -> None:
    limits = Limits(max_cell_chars=50)
    long = "长" * 51
    setting = r"over the 50 limit \(max_cell_chars, CAREER_ASSISTANT_MAX_CELL_CHARS\)"
    csv_data = f"title,city,salary\nNLP工程师,北京,20k\n{long},上海,10k\n".encode()
    with pytest.raises(InputFileError, match=rf"line 3: a value of 51 characters, {setting}"):
        read_table(tmp_path / "c.csv", csv_data, "c.csv", limits=limits)
    huge = f"title,city\nNLP,北京\n{'x' * 5000},上海\n".encode()  # stopped by the csv module's own limit
    with pytest.raises(InputFileError, match=r"near line \d: a value over the 50-character limit \(max_cell_chars"):
        read_table(tmp_path / "h.csv", huge, "h.csv", limits=limits)
    jsonl = "\n".join(json.dumps({"title": t, "city": "北京"}, ensure_ascii=False) for t in ("NLP", long)).encode()
    with pytest.raises(InputFileError, match=r"record 2: a value of 51 characters, over the 50 limit"):
        read_table(tmp_path / "j.jsonl", jsonl, "j.jsonl", limits=limits)
    sheet = _xlsx([["title", "city"], ["NLP", "北京"], ["CV", long]])
    with pytest.raises(InputFileError, match=r"row 3: a value of 51 characters"):
        read_table(tmp_path / "x.xlsx", sheet, "x.xlsx", limits=limits)
    exactly = f"title,city\n{'长' * 50},北京\n".encode()
    assert len(read_table(tmp_path / "e.csv", exactly, "e.csv", limits=limits).rows) == 1
