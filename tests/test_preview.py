"""The mapping step's suggestion (`preview_file`): by a known layout, by header names in both languages, and by
values for headers no synonym knows; and the typed values that carry a preview and an ingest report between
processes and page sessions."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from assistant.api import preview_file
from assistant.config import Settings
from assistant.schema import FilePreview, missing_fields
from ingest.preview import suggest
from ingest.report import FileResult, IngestReport

DESCRIPTION = "负责大模型训练与推理优化，熟悉 PyTorch、CUDA，有分布式训练经验，能独立完成从数据到部署的工作。"


def _csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_an_export_with_chinese_headers_is_mapped_by_header_name(tmp_path: Path) -> None:
    path = _csv(tmp_path / "export.csv", "序号,招聘岗位,工作城市,最低月薪,最高月薪,学历要求,要求经验,发布时间",
                "1,算法工程师,茂名,10000,15000,本科,1-3年,2022-06-19",
                "2,数据分析师,北京,0,0,硕士,经验不限,2022-07-01")  # fmt: skip
    preview = preview_file(path, Settings())
    assert preview.kind == "postings" and preview.layout == "generic" and preview.ready
    assert preview.suggested == {"title": "招聘岗位", "city": "工作城市", "salary_min": "最低月薪",
                                 "salary_max": "最高月薪", "education": "学历要求", "experience": "要求经验",
                                 "date": "发布时间"}  # fmt: skip
    assert set(preview.why.values()) == {"header name"}
    assert preview.headers[0] == "序号" and preview.rows[1][1] == "数据分析师"


def test_headers_nobody_named_are_mapped_by_their_values() -> None:
    headers = ["a", "b", "c", "d", "e", "f", "g", "h"]
    rows = [
        ["1", "大模型算法工程师", "上海", "20k-30k", DESCRIPTION, "本科", "3-5年", "2024-03-01"],
        ["2", "数据工程师", "Beijing", "1.5-2万", DESCRIPTION, "硕士", "1-3年", "2024/03/05"],
        ["3", "NLP engineer", "深圳市", "25000-35000元/月", DESCRIPTION, "学历不限", "经验不限", "2024-02-28"],
    ]
    columns, why, layout = suggest(headers, rows)
    assert layout == "generic"
    assert columns == {"title": "b", "city": "c", "salary": "d", "description": "e", "education": "f",
                       "experience": "g", "date": "h"}  # fmt: skip
    assert why["salary"] == "values: 3 of 3 read as pay" and why["city"] == "values: 3 of 3 are city names"
    assert "a" not in columns.values()  # a running number is nothing


def test_two_numeric_pay_columns_are_found_as_lowest_and_highest() -> None:
    rows = [["NLP工程师", "北京", "15000", "25000"], ["数据工程师", "上海", "0", "0"],
            ["算法工程师", "杭州", "8000", "12000"]]
    columns, why, _ = suggest(["职位", "城市", "x1", "x2"], rows)
    assert (columns["salary_min"], columns["salary_max"]) == ("x1", "x2") and "first ≤ the second" in why["salary_max"]


def test_a_known_board_is_recognised_and_says_so() -> None:
    headers = ["职位编码", "职位名称", "所在城市", "发布日期", "薪资待遇", "公司编码", "公司名称"]
    columns, why, layout = suggest(headers, [["1", "Python开发", "北京", "2017-04-27", "10k-15k", "9", "某公司"]])
    assert layout == "lagou" and columns["salary"] == "薪资待遇" and why["title"] == "the lagou layout"


def test_what_is_still_missing_is_named() -> None:
    assert missing_fields({"title": "t"}) == ("salary", "city")
    assert missing_fields({"title": "t", "salary_max": "m", "area": "a"}) == ()
    columns, _, _ = suggest(["x", "y"], [["hello", "world"]])
    assert missing_fields(columns) == ("title", "salary", "city")


def test_files_that_cannot_be_previewed_say_why(tmp_path: Path) -> None:
    binary = tmp_path / "broken.csv"
    binary.write_bytes(b"\x00\x01\x02 not text")
    got = preview_file(binary, Settings())
    assert got.kind == "postings" and got.error and not got.ready and got.headers == ()
    assert preview_file(tmp_path / "setup.exe", Settings()).error == "unknown file type '.exe'"
    assert preview_file(tmp_path / "notes.md", Settings()).kind == "articles"
    big = _csv(tmp_path / "big.csv", "title,city,salary", *["x,北京,10k"] * 2000)
    assert "over the 0.01 MB limit" in preview_file(big, Settings(max_file_mb=0.01)).error


def test_a_preview_survives_the_page_state_and_a_report_the_worker_process() -> None:
    preview = FilePreview(file="a.csv", kind="postings", layout="generic", headers=("t", "c"), rows=(("x", "y"),),
                          suggested={"title": "t"}, why={"title": "header name"}, missing=("salary",))  # fmt: skip
    assert FilePreview.from_dict(json.loads(json.dumps(asdict(preview)))) == preview
    result = FileResult("a.csv", "postings", "added", rows_in=3, records=3,
                        skipped=Counter({"empty title": 1}), unknown=Counter({"salary not stated": 2}))  # fmt: skip
    report = IngestReport(store="s", files=[result], postings=3, committed=True)
    back = IngestReport.from_state(json.loads(json.dumps(report.to_state())))
    assert back == report and back.files[0].unknown["salary not stated"] == 2
