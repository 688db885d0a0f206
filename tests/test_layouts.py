"""Known board layouts are recognised from headers; anything else maps with --columns."""

from __future__ import annotations

import pytest

from assistant.errors import InputFileError, UserError
from ingest.layouts import parse_column_mapping, resolve_layout

LAGOU = ["_index", "职位编码", "职位名称", "所在城市", "发布日期", "薪资待遇", "公司编码", "公司名称", "公司全称"]
ZHAOPIN = ["城市", "岗位", "薪酬", "技能", "工作经验", "学历", "职位类型", "人数", "公司名称", "公司类型", "公司规模",
           "公司行业", "地址", "职位更新日期"]  # fmt: skip
JOB51 = ["jobName", "tags", "area", "salary", "workYear", "degree", "companyName", "companyType", "companySize",
         "logo", "issueDate"]  # fmt: skip


@pytest.mark.parametrize("headers, name, source", [(LAGOU, "lagou", "Lagou"), (ZHAOPIN, "zhaopin", "Zhaopin"),
                                                   (JOB51, "51job", "51job")])  # fmt: skip
def test_bundled_layouts_are_recognised(headers: list[str], name: str, source: str) -> None:
    layout = resolve_layout(headers, "f.csv")
    assert (layout.name, layout.source) == (name, source)


def test_generic_headers_by_synonym() -> None:
    layout = resolve_layout(["Job Title", "Location", "Salary", "Date Posted", "Company", "Description"], "x.csv")
    assert layout.name == "generic"
    assert layout.columns["title"] == "Job Title" and layout.columns["area"] == "Location"
    assert layout.columns["date"] == "Date Posted" and layout.columns["description"] == "Description"


def test_missing_salary_names_file_headers_and_fix() -> None:
    with pytest.raises(InputFileError) as info:
        resolve_layout(["职位名称", "城市", "待遇"], "postings.csv")
    message = str(info.value)
    assert message.startswith("postings.csv: no salary column (found: 职位名称, 城市, 待遇)")
    assert "--columns salary=" in message


def test_user_mapping_fills_the_gap_and_names_the_source() -> None:
    mapping = parse_column_mapping("salary=待遇,source=MyBoard")
    layout = resolve_layout(["职位名称", "城市", "待遇"], "p.csv", mapping)
    assert layout.columns["salary"] == "待遇" and layout.source == "MyBoard"


def test_mapping_to_a_missing_header_is_refused() -> None:
    with pytest.raises(InputFileError, match="--columns salary=Pay: no such column"):
        resolve_layout(["title", "city", "salary"], "p.csv", {"salary": "Pay"})


@pytest.mark.parametrize("spec", ["salary", "wage=Pay", "title="])
def test_bad_mapping_spec(spec: str) -> None:
    with pytest.raises(UserError):
        parse_column_mapping(spec)


def test_a_reason_names_headers_briefly_however_long_they_are() -> None:
    with pytest.raises(InputFileError) as err:
        resolve_layout(["x" * 100_000, "y" * 50, *[f"c{i}" for i in range(40)]], "f.json")
    assert len(err.value.reason) < 800 and "x" * 40 + "…" in err.value.reason and "more" in err.value.reason
