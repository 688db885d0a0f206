"""Question understanding on real questions a worker would ask, in English and Chinese (pure, table-driven)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant import vocab
from assistant.understand import INTENTS, MEASURES, Profile, Query, detect_language, understand

DATA = Path(vocab.__file__).parent / "data"
COMPANIES = ["百度", "腾讯", "字节跳动", "阿里巴巴", "Siemens"]


def _check(query: Query, expected: dict[str, Any]) -> None:
    got = {name: getattr(query, name) for name in expected}
    assert got == expected, query


# (question, expected fields). Only the fields named are checked; tuples are in order of mention.
CASES: list[tuple[str, dict[str, Any]]] = [
    # figure: count
    (
        "How many NLP jobs are there in Beijing?",
        {
            "intent": "figure",
            "measure": "count",
            "cities": ("Beijing",),
            "roles": ("nlp",),
            "skills": ("NLP",),
            "language": "en",
        },
    ),
    (
        "北京有多少个NLP岗位？",
        {"intent": "figure", "measure": "count", "cities": ("Beijing",), "roles": ("nlp",), "language": "zh"},
    ),
    (
        "How many LLM postings did Lagou have in 2017?",
        {"intent": "figure", "measure": "count", "roles": ("llm",), "years": (2017,), "sources": ("Lagou",)},
    ),
    (
        "Lagou 2017年的数据里北京NLP岗位有多少",
        {"intent": "figure", "measure": "count", "cities": ("Beijing",), "years": (2017,), "sources": ("Lagou",)},
    ),
    (
        "智联上深圳的大模型岗位数量是多少？",
        {
            "intent": "figure",
            "measure": "count",
            "cities": ("Shenzhen",),
            "roles": ("llm",),
            "skills": ("LLM",),
            "sources": ("Zhaopin",),
        },
    ),
    (
        "前程无忧上有多少机器学习职位",
        {
            "intent": "figure",
            "measure": "count",
            "roles": ("ml",),
            "skills": ("Machine Learning",),
            "sources": ("51job",),
        },
    ),
    (
        "How many postings on 51job mention PyTorch?",
        {"intent": "figure", "measure": "count", "skills": ("PyTorch",), "sources": ("51job",)},
    ),
    (
        "Is Go in demand in Shenzhen?",
        {"intent": "figure", "measure": "count", "cities": ("Shenzhen",), "skills": ("Go",)},
    ),
    (
        "AI infra或MLOps岗位在杭州有多少？",
        {"intent": "figure", "measure": "count", "cities": ("Hangzhou",), "roles": ("ai_infra",)},
    ),
    (
        "How many data engineering jobs are in shenzhen?",
        {
            "intent": "figure",
            "measure": "count",
            "cities": ("Shenzhen",),
            "roles": ("data_engineering",),
            "skills": ("Data Engineering",),
        },
    ),
    (
        "How many 2025 jobs need LLM skills in Guangzhou?",
        {"intent": "figure", "measure": "count", "years": (2025,), "cities": ("Guangzhou",)},
    ),
    ("某某市的算法岗多吗", {"intent": "figure", "measure": "count", "roles": ("ml",), "unknown_places": ("某某市",)}),
    # figure: salary
    ("北京的NLP岗位月薪多少？", {"intent": "figure", "measure": "salary", "cities": ("Beijing",), "roles": ("nlp",)}),
    (
        "What do machine learning engineers earn in Shenzhen?",
        {
            "intent": "figure",
            "measure": "salary",
            "cities": ("Shenzhen",),
            "roles": ("ml",),
            "skills": ("Machine Learning",),
        },
    ),
    (
        "What do product managers make in Beijing?",
        {"intent": "figure", "measure": "salary", "cities": ("Beijing",), "roles": ("product",)},
    ),
    (
        "What is the median salary for backend developers in Chengdu?",
        {"intent": "figure", "measure": "salary", "cities": ("Chengdu",), "roles": ("backend",)},
    ),
    (
        "NLP算法工程师在深圳的工资",
        {"intent": "figure", "measure": "salary", "cities": ("Shenzhen",), "roles": ("nlp",), "skills": ("NLP",)},
    ),
    (
        "How much do AI infrastructure engineers get paid in Hangzhou?",
        {"intent": "figure", "measure": "salary", "roles": ("ai_infra",), "cities": ("Hangzhou",)},
    ),
    (
        "产品经理在上海的薪资待遇怎么样",
        {"intent": "figure", "measure": "salary", "roles": ("product",), "cities": ("Shanghai",)},
    ),
    ("腾讯的算法工程师工资多少", {"intent": "figure", "measure": "salary", "companies": ("腾讯",), "roles": ("ml",)}),
    (
        "What does Tencent pay LLM engineers?",
        {"intent": "figure", "measure": "salary", "companies": ("腾讯",), "roles": ("llm",)},
    ),
    (
        "What do siemens pay embedded engineers in Suzhou?",
        {
            "intent": "figure",
            "measure": "salary",
            "companies": ("Siemens",),
            "roles": ("embedded",),
            "cities": ("Suzhou",),
        },
    ),
    ("帝都的后端工资高吗", {"intent": "figure", "measure": "salary", "cities": ("Beijing",), "roles": ("backend",)}),
    # figure: rankings and shares
    (
        "Which cities have the most LLM jobs?",
        {"intent": "figure", "measure": "top_cities", "roles": ("llm",), "cities": ()},
    ),
    (
        "哪些城市的计算机视觉岗位最多？",
        {"intent": "figure", "measure": "top_cities", "roles": ("cv",), "skills": ("Computer Vision",)},
    ),
    (
        "Where are most of the speech recognition jobs?",
        {"intent": "figure", "measure": "top_cities", "roles": ("speech",)},
    ),
    (
        "哪些公司在招大模型工程师？",
        {"intent": "figure", "measure": "top_companies", "roles": ("llm",), "skills": ("LLM",)},
    ),
    (
        "Which companies are hiring the most data scientists in Beijing?",
        # "data scientist" has no role family of its own: the plan reads it as title words (tests/test_plan.py)
        {"intent": "figure", "measure": "top_companies", "roles": (), "cities": ("Beijing",)},
    ),
    (
        "Which skills are most in demand for AI infrastructure roles?",
        {"intent": "figure", "measure": "top_skills", "roles": ("ai_infra",)},
    ),
    ("大模型岗位需要什么技能？", {"intent": "figure", "measure": "top_skills", "roles": ("llm",)}),
    (
        "What skills do NLP engineers in Shanghai need?",
        {"intent": "figure", "measure": "top_skills", "roles": ("nlp",), "cities": ("Shanghai",)},
    ),
    (
        "What share of postings in Hangzhou are for data engineering?",
        {"intent": "figure", "measure": "share", "cities": ("Hangzhou",), "roles": ("data_engineering",)},
    ),
    (
        "深圳的AI岗位占比是多少？",
        {"intent": "figure", "measure": "share", "cities": ("Shenzhen",), "skills": ("Artificial Intelligence",)},
    ),
    (
        "What percentage of Beijing jobs require Python?",
        {"intent": "figure", "measure": "share", "cities": ("Beijing",), "skills": ("Python",)},
    ),
    ("What are the most common job titles for NLP?", {"intent": "figure", "measure": "top_titles", "roles": ("nlp",)}),
    (
        "杭州大模型方向有哪些职位？",
        {"intent": "figure", "measure": "top_titles", "cities": ("Hangzhou",), "roles": ("llm",)},
    ),
    # comparison
    (
        "Beijing vs Shanghai: NLP salaries",
        {"intent": "comparison", "measure": "salary", "cities": ("Beijing", "Shanghai"), "roles": ("nlp",)},
    ),
    (
        "Compare LLM and CV salaries in Shenzhen",
        {"intent": "comparison", "measure": "salary", "roles": ("llm", "cv"), "cities": ("Shenzhen",)},
    ),
    ("北京和上海，NLP岗位哪个多？", {"intent": "comparison", "measure": "count", "cities": ("Beijing", "Shanghai")}),
    (
        "算法工程师在北京还是深圳工资高？",
        {"intent": "comparison", "measure": "salary", "cities": ("Beijing", "Shenzhen"), "roles": ("ml",)},
    ),
    (
        "对比一下百度和阿里巴巴的大模型岗位",
        {"intent": "comparison", "measure": "salary", "companies": ("百度", "阿里巴巴"), "roles": ("llm",)},
    ),
    (
        "Does Hangzhou or Chengdu have more machine learning jobs?",
        {"intent": "comparison", "measure": "count", "cities": ("Hangzhou", "Chengdu")},
    ),
    (
        "字节和腾讯哪个给算法岗的薪资高",
        {"intent": "comparison", "measure": "salary", "companies": ("字节跳动", "腾讯"), "roles": ("ml",)},
    ),
    (
        "NLP vs LLM jobs: which has more openings in Beijing?",
        {"intent": "comparison", "measure": "count", "roles": ("nlp", "llm")},
    ),
    ("NLP岗位2017年和2024年对比", {"intent": "comparison", "years": (2017, 2024), "roles": ("nlp",)}),
    (
        "Python和Java哪个岗位更多？",
        {"intent": "comparison", "measure": "count", "skills": ("Python", "Java"), "roles": ()},
    ),
    # trend
    (
        "How has demand for NLP changed from 2017 to 2024?",
        {"intent": "trend", "measure": None, "roles": ("nlp",), "years": (2017, 2024)},
    ),
    ("大模型岗位的趋势", {"intent": "trend", "measure": None, "roles": ("llm",)}),
    (
        "Is demand for LLM engineers growing in Shanghai?",
        {"intent": "trend", "roles": ("llm",), "cities": ("Shanghai",)},
    ),
    ("深圳的算法岗这几年有什么变化？", {"intent": "trend", "cities": ("Shenzhen",), "roles": ("ml",)}),
    ("机器学习岗位历年的增长情况", {"intent": "trend", "roles": ("ml",)}),
    ("NLP postings in 2017 and 2024", {"intent": "trend", "years": (2017, 2024)}),
    # fact
    ("Why is there a talent shortage in AI?", {"intent": "fact", "measure": None}),
    ("新闻里怎么说DeepSeek对就业的影响？", {"intent": "fact", "skills": ("LLM",)}),
    ("What does the article say about AI replacing programmers?", {"intent": "fact"}),
    ("为什么大模型人才这么缺？有什么报道吗", {"intent": "fact", "roles": ("llm",)}),
    ("How is DeepSeek affecting the job market?", {"intent": "fact"}),
    ("AI时代程序员的前景如何", {"intent": "fact"}),
    ("人工智能人才缺口有多大", {"intent": "fact"}),
    # advice
    ("should I go into NLP or CV?", {"intent": "advice", "roles": ("nlp", "cv"), "skills": ("NLP", "Computer Vision")}),
    ("How do I move into AI infra from DevOps?", {"intent": "advice", "roles": ("ai_infra", "devops")}),
    ("前端程序员如何转行做大模型？", {"intent": "advice", "roles": ("frontend", "llm")}),
    ("有什么建议给想进入NLP领域的应届生？", {"intent": "advice", "roles": ("nlp",)}),
    ("Is it worth it to learn PyTorch for a data analyst?", {"intent": "advice", "skills": ("PyTorch",)}),
    # out of scope
    ("What's the weather in Beijing tomorrow?", {"intent": "out_of_scope", "measure": None}),
    ("北京明天天气怎么样？", {"intent": "out_of_scope"}),
    ("Tell me a joke", {"intent": "out_of_scope"}),
    ("讲个笑话吧", {"intent": "out_of_scope"}),
    ("Give me a recipe for dumplings", {"intent": "out_of_scope"}),
    ("红烧肉的做法", {"intent": "out_of_scope"}),
    ("Who won the NBA finals?", {"intent": "out_of_scope"}),
    ("百度今天的股价是多少", {"intent": "out_of_scope", "companies": ("百度",)}),
    ("I have a headache, what medicine should I take?", {"intent": "out_of_scope"}),
    ("Translate 机器学习工程师 into English", {"intent": "out_of_scope"}),
    ("What is the capital of France?", {"intent": "out_of_scope"}),
    ("hello", {"intent": "out_of_scope"}),
    ("Can you recommend a good restaurant in Shenzhen?", {"intent": "out_of_scope"}),
    # unknown places
    ("How many AI jobs are there in Paris?", {"intent": "figure", "unknown_places": ("Paris",), "cities": ()}),
    ("巴黎有多少AI岗位？", {"intent": "figure", "unknown_places": ("巴黎",), "cities": ()}),
    (
        "NLP salaries in London vs Beijing",
        {"intent": "comparison", "unknown_places": ("London",), "cities": ("Beijing",)},
    ),
    ("在新加坡和东京做大模型工资高吗", {"unknown_places": ("新加坡", "东京"), "cities": ()}),
    ("昆山市有多少嵌入式岗位", {"intent": "figure", "cities": ("Kunshan",), "unknown_places": (),
                               "roles": ("embedded",)}),
    ("安宁市有多少岗位", {"cities": ("Anning",), "unknown_places": ()}),  # a county-level city, named with 市
    ("北京都有哪些公司在招大模型？", {"cities": ("Beijing",), "unknown_places": (), "measure": "top_companies"}),
    ("哪些城市的市场需求最大", {"unknown_places": (), "measure": "top_cities"}),
    # entities that must not be found
    ("AI是朝阳行业吗？", {"cities": ()}),
    ("How many jobs in Taizhou?", {"cities": ()}),
    ("Answer in English: how many CV jobs are in Xi'an?", {"cities": ("Xi'an",), "skills": ("Computer Vision",)}),
    ("字节跳动北京的算法岗多少钱", {"companies": ("字节跳动",), "cities": ("Beijing",), "measure": "salary"}),
]


@pytest.mark.parametrize("question, expected", CASES, ids=[q for q, _ in CASES])
def test_understand(question: str, expected: dict[str, Any]) -> None:
    _check(understand(question, companies=COMPANIES), expected)


# (first question, follow-up, expected fields of the follow-up)
FOLLOWUPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "How many NLP jobs are there in Beijing?",
        "and in Shenzhen?",
        {"followup": True, "intent": "figure", "measure": "count", "cities": ("Shenzhen",), "roles": ("nlp",)},
    ),
    (
        "How many NLP jobs are there in Beijing?",
        "what about Shanghai?",
        {"followup": True, "cities": ("Shanghai",), "roles": ("nlp",)},
    ),
    (
        "How many NLP jobs are there in Beijing?",
        "and for CV?",
        {"followup": True, "cities": ("Beijing",), "roles": ("cv",), "skills": ("Computer Vision",)},
    ),
    (
        "How many NLP jobs are there in Beijing?",
        "What about salaries?",
        {"followup": True, "measure": "salary", "cities": ("Beijing",), "roles": ("nlp",)},
    ),
    ("How many NLP jobs are there in Beijing?", "Shenzhen?", {"followup": True, "cities": ("Shenzhen",)}),
    (
        "How many NLP jobs are there in Beijing?",
        "and in 2024?",
        {"followup": True, "years": (2024,), "cities": ("Beijing",)},
    ),
    (
        "How many NLP jobs are there in Beijing?",
        "how about over time?",
        {"followup": True, "intent": "trend", "measure": None, "roles": ("nlp",)},
    ),
    (
        "How many NLP jobs are there in Beijing?",
        "and in Paris?",
        {"followup": True, "cities": (), "unknown_places": ("Paris",)},
    ),
    (
        "北京的NLP岗位月薪多少？",
        "那上海呢？",
        {
            "followup": True,
            "intent": "figure",
            "measure": "salary",
            "cities": ("Shanghai",),
            "roles": ("nlp",),
            "language": "zh",
        },
    ),
    ("北京的NLP岗位月薪多少？", "深圳呢", {"followup": True, "cities": ("Shenzhen",), "roles": ("nlp",)}),
    (
        "北京的NLP岗位月薪多少？",
        "换成算法岗呢",
        {"followup": True, "cities": ("Beijing",), "roles": ("ml",), "measure": "salary"},
    ),
    ("北京的NLP岗位月薪多少？", "那数量呢", {"followup": True, "measure": "count", "roles": ("nlp",)}),
    (
        "北京的NLP岗位月薪多少？",
        "和上海比呢",
        {"followup": True, "intent": "comparison", "cities": ("Beijing", "Shanghai")},
    ),
    ("北京的NLP岗位月薪多少？", "那腾讯呢", {"followup": True, "companies": ("腾讯",), "cities": ("Beijing",)}),
    (
        "Beijing vs Shanghai: NLP salaries",
        "and for LLM?",
        {
            "followup": True,
            "intent": "comparison",
            "measure": "salary",
            "cities": ("Beijing", "Shanghai"),
            "roles": ("llm",),
        },
    ),
    (
        "Beijing vs Shanghai: NLP salaries",
        "and in Shenzhen?",
        {"followup": True, "intent": "figure", "cities": ("Shenzhen",)},
    ),
    (
        "Which skills are most in demand for LLM roles?",
        "and in Hangzhou?",
        {"followup": True, "measure": "top_skills", "cities": ("Hangzhou",), "roles": ("llm",)},
    ),
    ("大模型岗位的趋势", "那深圳呢", {"followup": True, "intent": "trend", "cities": ("Shenzhen",), "roles": ("llm",)}),
    # A full new question does not inherit, even after a previous turn.
    (
        "How many NLP jobs are there in Beijing?",
        "What do product managers make in Shanghai?",
        {"followup": False, "roles": ("product",), "cities": ("Shanghai",)},
    ),
    ("北京的NLP岗位月薪多少？", "为什么大模型人才这么缺？", {"followup": False, "intent": "fact", "cities": ()}),
    ("北京的NLP岗位月薪多少？", "讲个笑话吧", {"followup": False, "intent": "out_of_scope"}),
    ("Tell me a joke", "and in Shenzhen?", {"followup": False}),
]


@pytest.mark.parametrize("first, then, expected", FOLLOWUPS, ids=[f"{a} -> {b}" for a, b, _ in FOLLOWUPS])
def test_followup(first: str, then: str, expected: dict[str, Any]) -> None:
    previous = understand(first, companies=COMPANIES)
    _check(understand(then, previous, companies=COMPANIES), expected)


PROFILES: list[tuple[str, dict[str, Any], Profile]] = [
    (
        "我有3年Java经验，在北京，工资2万5，适合转大模型吗",
        {"intent": "advice", "roles": ("llm",), "cities": ("Beijing",)},
        Profile(None, None, ("Java",), "Beijing", 25000),
    ),
    (
        "I've been a QA engineer for 5 years in Xi'an, what should I learn next?",
        {"intent": "advice", "roles": ()},
        Profile("QA engineer", "qa", (), "Xi'an", None),
    ),
    (
        "I'm a Java backend developer in Shanghai on 15k a month, how do I move into ML?",
        {"intent": "advice", "roles": ("ml",), "skills": ("Machine Learning",), "cities": ("Shanghai",)},
        Profile("Java backend developer", "backend", ("Java",), "Shanghai", 15000),
    ),
    (
        "我在上海做Java后端，月薪1.5万，想转机器学习，怎么做？",
        {"intent": "advice", "roles": ("ml",), "skills": ("Machine Learning",), "language": "zh"},
        Profile("Java后端", "backend", ("Java",), "Shanghai", 15000),
    ),
    (
        "我是一名上海的Java后端开发，年薪30万，想做大模型，有什么建议？",
        {"intent": "advice", "roles": ("llm",)},
        Profile("Java后端开发", "backend", ("Java",), "Shanghai", 25000),
    ),
    (
        "I'm a data analyst making 300k a year. Should I learn LLM?",
        {"intent": "advice", "roles": ("llm",)},
        Profile("data analyst", "data_analysis", (), None, 25000),
    ),
    (
        "我目前在深圳做测试，月薪两万，想转AI方向，怎么转？",
        {"intent": "advice", "cities": ("Shenzhen",)},
        Profile("测试", "qa", ("Testing",), "Shenzhen", 20000),
    ),
    (
        "我月薪一万五，在杭州做前端，转行做大模型应用开发来得及吗",
        {"intent": "advice", "roles": ("llm",)},
        Profile("前端", "frontend", (), "Hangzhou", 15000),
    ),
    (
        "I know Python and SQL, how do I get into data engineering?",
        {"intent": "advice", "roles": ("data_engineering",), "skills": ("Data Engineering",)},
        Profile(skills=("Python", "SQL")),
    ),
    (
        "I live in Chengdu and earn 12000 yuan, should I move to Shenzhen for NLP?",
        {"intent": "advice", "cities": ("Shenzhen",), "roles": ("nlp",)},
        Profile(city="Chengdu", monthly_pay=12000),
    ),
    (
        "I'm an embedded engineer in Wuhan earning 800 a day. What do NLP engineers earn in Wuhan?",
        {"intent": "figure", "measure": "salary", "roles": ("nlp",), "cities": ("Wuhan",)},
        Profile("embedded engineer", "embedded", ("Embedded Development",), "Wuhan", 17400),
    ),
    (
        "I'm a frontend dev in Beijing on $8000 a month, how do I get into LLM?",
        {"intent": "advice", "roles": ("llm",)},
        Profile("frontend dev", "frontend", (), "Beijing", None),
    ),
]


@pytest.mark.parametrize("question, expected, profile", PROFILES, ids=[q for q, _, _ in PROFILES])
def test_profile(question: str, expected: dict[str, Any], profile: Profile) -> None:
    query = understand(question, companies=COMPANIES)
    _check(query, expected | {"profile": profile})


def test_question_without_profile_has_none() -> None:
    assert understand("I'm wondering how many NLP jobs there are in Beijing").profile is None
    assert understand("How many NLP jobs pay more than 20k in Beijing?").profile is None


@pytest.mark.parametrize(
    "text, language",
    [
        ("What do 算法工程师 earn in Beijing?", "en"),
        ("那NLP呢？", "zh"),
        ("NLP岗位", "zh"),
        ("Shenzhen?", "en"),
        ("", "en"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_every_intent_and_measure_is_covered() -> None:
    queries = [understand(q, companies=COMPANIES) for q, _ in CASES]
    assert {q.intent for q in queries} == set(INTENTS)
    assert {q.measure for q in queries} - {None} == set(MEASURES)


def test_empty_question_is_out_of_scope() -> None:
    assert understand("   ").intent == "out_of_scope"


def test_company_names_from_the_table() -> None:
    # Latin names in any case, Chinese names as substrings; a one-character Chinese name is too little.
    query = understand("How many jobs do SIEMENS and 阿里巴巴集团 post?", companies=["Siemens", "阿里巴巴", "安"])
    assert query.companies == ("Siemens", "阿里巴巴")
    assert understand("百度有多少岗位", companies=[]).companies == ()


def test_find_places() -> None:
    found = vocab.find_places("北京都有NLP岗位，在昆山市或巴黎呢？Paris too; 城市和市场不算，安宁一点")
    assert [(p.name, p.known) for p in found] == [
        ("Beijing", True),
        ("Kunshan", True),
        ("巴黎", False),
        ("Paris", False),
    ]


def test_intent_data_is_consistent() -> None:
    data = json.loads((DATA / "intents.json").read_text(encoding="utf-8"))
    assert tuple(data["measures"]) == (
        "share",
        "top_titles",
        "top_companies",
        "top_skills",
        "top_cities",
        "salary",
        "count",
    )
    assert set(data["measures"]) == set(MEASURES)
    families = set(vocab.role_families())
    seen: dict[str, str] = {}
    for table in (data["roles"]["specific"], data["roles"]["generic"]):
        for family, aliases in table.items():
            assert family in families
            for alias in aliases:
                key = vocab.alias_key(alias)
                assert seen.setdefault(key, family) == family, f"{alias!r} is in {seen[key]} and {family}"
    assert set(data["profile"]["role_restating_skills"]) <= set(vocab.all_skills())


def test_foreign_places_are_not_known_cities() -> None:
    data = json.loads((DATA / "places.json").read_text(encoding="utf-8"))
    assert len(data["places"]) >= 60
    for place in data["places"]:
        for name in (place["en"], place["zh"], *place["aliases"]):
            assert vocab.canonical_city(name) is None, name
            assert [p.known for p in vocab.find_places(name)] == [False], name
