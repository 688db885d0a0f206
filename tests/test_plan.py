"""The typed plan of a question (pure, table-driven): what is measured, over which population, and which parts of
the question were not used and why. Questions written for the patterns the answering core used to misread."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.plan import AI_FAMILIES, TECH_FAMILIES, Plan, make_plan, stated_pays
from assistant.schema import Filters
from assistant.understand import understand

COMPANIES = ("百度", "腾讯", "字节跳动", "阿里巴巴", "Siemens")


def plan_of(question: str, companies: tuple[str, ...] = COMPANIES) -> Plan:
    return make_plan(understand(question, companies=companies), companies)


def _subject(plan: Plan, index: int = 0) -> Filters:
    return plan.subjects[index]


# (question, expected): "intent", "measure", "rank_by", "pays", and "subject"/"subjects" as the Filters fields
# that must hold (other fields free); "unused" lists words that must be named as not used.
CASES: list[tuple[str, dict[str, Any]]] = [
    # pay asked in slang is pay, not a count
    # a language named as the job is the postings whose title names it, not those listing the skill
    ("深圳做 Go 开发一般多少k", {"measure": "salary", "subject": {"cities": ("Shenzhen",), "skills": ()}}),
    ("What does a Rust developer make in Shanghai?", {"measure": "salary", "subject": {"cities": ("Shanghai",)}}),
    # "AI" before a job name in either script: that job's postings that list AI skills, never dropped silently
    (
        "AI测试工程师的月薪中位数是多少？",
        {"measure": "salary", "subject": {"roles": ("qa",), "skills": ("Artificial Intelligence",)}},
    ),
    (
        "Which skills do AI product managers list most?",
        {"measure": "top_skills", "subject": {"roles": ("product",), "skills": ("Artificial Intelligence",)}},
    ),
    # a trend over two populations is one trend each, not one pooled (nor one said to be read and left out)
    (
        "北京和上海的大模型岗位这几年怎么变化？",
        {"intent": "trend", "subjects": [{"cities": ("Beijing",), "roles": ("llm",)}, {"cities": ("Shanghai",)}]},
    ),
    ("How have LLM jobs and tech jobs changed over the years?",
     {"intent": "trend", "subjects": [{"roles": ("llm",)}, {"roles": TECH_FAMILIES}]}),
    # rankings by pay, not by count
    (
        "Which city pays the most for computer vision engineers?",
        {"measure": "top_cities", "rank_by": "salary", "subject": {"roles": ("cv",)}},
    ),
    ("哪个城市的大模型岗位工资最高？", {"measure": "top_cities", "rank_by": "salary", "subject": {"roles": ("llm",)}}),
    ("Which cities have the most NLP jobs?", {"measure": "top_cities", "rank_by": "count"}),
    # thresholds bound the postings
    (
        "How many data engineering jobs pay more than 25k a month?",
        {"measure": "share", "subject": {"roles": ("data_engineering",), "pay_min": 25000}},
    ),
    ("年薪 60 万以上的算法岗位有多少？", {"measure": "share", "subject": {"roles": ("ml",), "pay_min": 50000}}),
    ("上海月薪低于1万的测试岗位占多少？", {"measure": "share", "subject": {"cities": ("Shanghai",), "pay_max": 10000}}),
    # a stated offer or pay is placed among the matching postings
    (
        "I got an offer of 18k a month for a data analyst job in Hangzhou, is that low?",
        {
            "measure": "pay_position",
            "pays": (18000,),
            "subject": {"cities": ("Hangzhou",), "roles": ("data_analysis",)},
        },
    ),
    ("北京 NLP 年薪 36 万算什么水平？", {"measure": "pay_position", "pays": (30000,), "subject": {"roles": ("nlp",)}}),
    (
        "成都后端 1.2 万，去杭州能拿 1.8 万吗",
        {
            "measure": "pay_position",
            "pays": (12000, 18000),
            "subjects": [{"cities": ("Chengdu",)}, {"cities": ("Hangzhou",)}],
        },
    ),
    # a pay in another currency is named, never read as CNY
    ("My total comp is TC 210K, how do I move into LLM work?", {"intent": "advice", "unused": ["210K"]}),
    # "AI jobs" is the AI role families
    ("How many AI jobs are there in Hangzhou?", {"measure": "count", "subject": {"roles": AI_FAMILIES, "skills": ()}}),
    ("人工智能岗位平均工资多少", {"measure": "salary", "subject": {"roles": AI_FAMILIES}}),
    # job names outside the families filter titles
    ("What does a prompt engineer earn?", {"measure": "salary", "subject": {"title_terms": ("prompt", "提示词")}}),
    ("How many data scientist openings are there?", {"subject": {"title_terms": ("数据科学", "data scien")}}),
    # comparisons keep both sides
    (
        "Do machine learning jobs pay more compared with Java jobs?",
        {"intent": "comparison", "subjects": [{"roles": ("ml",)}, {"skills": ("Java",), "roles": ()}]},
    ),
    ("深圳的前端和全国比工资怎么样", {"intent": "comparison", "subjects": [{"cities": ("Shenzhen",)}, {"cities": ()}]}),
    (
        "Kubernetes vs Docker: which shows up in more postings?",
        {
            "intent": "comparison",
            "measure": "share",
            "subjects": [{"skills": ("Kubernetes",)}, {"skills": ("Docker",)}],
        },
    ),
    (
        "学 Go 还是学 Rust 好？",
        {"intent": "comparison", "measure": "share", "subjects": [{"skills": ("Go",)}, {"skills": ("Rust",)}]},
    ),
    # a comparison whose other side the postings cannot name is not answered with one side's figure
    ("How do average office workers' salaries compare with LLM salaries?", {"intent": "fact"}),
    ("What share of NLP postings are concentrated in the top 5 cities?", {"intent": "fact"}),
    # education and experience are figures of their own
    ("Do computer vision jobs require a PhD?", {"measure": "education", "subject": {"roles": ("cv",)}}),
    ("做数据分析需要硕士学历吗", {"measure": "education", "subject": {"roles": ("data_analysis",)}}),
    (
        "What salary can I expect with 6 years of experience as a backend developer?",
        {"measure": "salary", "subject": {"roles": ("backend",), "experience_years": (5, 9)}},
    ),
    ("应届生做大模型月薪多少", {"measure": "salary", "subject": {"roles": ("llm",), "experience_years": (0, 0)}}),
    # a skill a role asks for
    ("做产品经理必须会 Python 吗", {"measure": "share", "subject": {"roles": ("product",), "skills": ("Python",)}}),
    ("我是测试工程师，需要掌握哪些技能？", {"measure": "top_skills", "subject": {"roles": ("qa",)}}),
    # the switching template only for switching, toward the named target, never the current role
    (
        "I'm a frontend developer, how do I switch to data engineering?",
        {"intent": "advice", "targets": ("data_engineering",)},
    ),
    ("Any tips for QA engineers who want to transition to machine learning?", {"intent": "advice", "targets": ("ml",)}),
    ("我做嵌入式的，想转大模型", {"intent": "advice", "targets": ("llm",)}),
    ("Should I take a job in DevOps?", {"intent": "guidance", "subject": {"roles": ("devops",)}}),
    # what the data cannot answer is declined, naming why
    ("What's the retirement age for programmers in China?", {"intent": "decline", "unused": ["age"]}),
    ("深圳的程序员能落户吗？", {"intent": "decline", "unused": ["落户"]}),
    ("How do I negotiate my severance after a layoff?", {"intent": "decline", "unused": ["severance"]}),
    # the unused parts are named even when the rest is answered
    # a stated pay is placed among the postings (whose median the answer gives too); the age is named
    (
        "I'm 38 and a Java developer in Beijing on 20k, what do Java jobs in Beijing pay?",
        {"measure": "pay_position", "pays": (20000,), "unused": ["38"]},
    ),
    ("What do 35-year-old programmers earn in Beijing?", {"measure": "salary", "unused": ["35-year-old"]}),
    # "is it still easy to find": no figure measures a search; the openings and what they ask, with both said
    ("程序员过了35岁还好找工作吗？", {"intent": "figure", "measure": "count", "unused": ["35岁", "好找"]}),
    # relative time is resolved later against the data
    ("今年北京的大模型岗位有多少？", {"measure": "count", "period": "this_year"}),
    ("How many NLP jobs were posted last year?", {"period": "last_year"}),
    # several parts are answered in parts
    (
        "How many NLP jobs are there in Beijing, and which cities come next?",
        {"measure": "count", "extra_measures": ("top_cities",)},
    ),
    (
        "What do LLM engineers earn in Shanghai and which skills do they need?",
        {"measure": "salary", "extra_measures": ("top_skills",)},
    ),
    # a year after "pay" is a year; job words people use for pay
    ("What did NLP jobs on Zhaopin pay in 2024?", {"measure": "salary", "pays": (), "subject": {"years": (2024,)}}),
    ("What kind of money do data analysts pull in in Chengdu?", {"measure": "salary"}),
    # the asker's own role is the population their pay is placed in
    (
        "I make 9,000 yuan a month as a test engineer in Wuhan, is that fair?",
        {"measure": "pay_position", "subject": {"cities": ("Wuhan",), "roles": ("qa",)}},
    ),
    # two skills within one role; one place against all the others
    (
        "Within NLP jobs, how common is PyTorch versus TensorFlow?",
        {
            "intent": "comparison",
            "measure": "share",
            "subjects": [{"roles": ("nlp",), "skills": ("PyTorch",)}, {"roles": ("nlp",), "skills": ("TensorFlow",)}],
        },
    ),
    (
        "北京的算法岗工资比其他城市高吗",
        {"intent": "comparison", "subjects": [{"cities": ("Beijing",)}, {"cities": ()}]},
    ),
    # a job name with a suffix, a degree as a filter, experience asked
    ("质检员月薪多少", {"measure": "salary", "subject": {"title_terms": ("质检",)}}),
    (
        "How many computer vision postings ask for a master's?",
        {"measure": "count", "subject": {"roles": ("cv",), "education": ("master",)}},
    ),
    ("How many years of experience do NLP jobs ask for?", {"measure": "experience", "subject": {"roles": ("nlp",)}}),
    # a course fee is not pay
    ("花 2 万报个大模型培训班值得吗？", {"intent": "decline", "pays": ()}),
]


@pytest.mark.parametrize("question, expected", CASES, ids=[c[0][:40] for c in CASES])
def test_plan(question: str, expected: dict[str, Any]) -> None:
    plan = plan_of(question)
    for name in ("intent", "measure", "rank_by", "pays", "targets", "period", "extra_measures"):
        if name in expected:
            assert getattr(plan, name) == expected[name], (name, plan)
    subjects = [expected["subject"]] if "subject" in expected else expected.get("subjects", [])
    if subjects:
        assert len(plan.subjects) == len(subjects), plan
    for got, want in zip(plan.subjects, subjects, strict=False):
        assert {k: getattr(got, k) for k in want} == want, plan
    for words in expected.get("unused", []):
        assert any(words.lower() in p.words.lower() and not p.used for p in plan.parts), plan.parts


@pytest.mark.parametrize(
    "text, monthly, period",
    [
        ("10,000 RMB per month", 10000, "month"),
        ("年薪 30w", 25000, "year"),
        ("20w-30w 总包", 250000 / 12, "year"),
        ("月 base 40k", 40000, "month"),
        ("两万五一个月", 25000, "month"),
        ("$120k a year", None, "year"),
    ],
)
def test_stated_pay_reads_period_and_currency(text: str, monthly: float | None, period: str) -> None:
    (pay,) = stated_pays(text)
    assert pay.period == period
    assert (pay.monthly is None) if monthly is None else pay.monthly == pytest.approx(monthly, abs=0.01)


def test_numbers_that_are_not_pay_are_not_read_as_pay() -> None:
    assert stated_pays("I have 5 years of experience since 2019 at a 985 school") == []
    assert stated_pays("3 万的培训班") == []


@pytest.mark.parametrize("company", ["in", "AI", "数据", "start", "Java", "北京", "engineer", "Data"])
def test_company_names_that_are_common_words_do_not_change_how_questions_are_read(company: str) -> None:
    """Company names come from uploaded data: a company called "in" or "数据" must not capture questions."""
    questions = [
        "What do NLP engineers earn in Beijing?",
        "Do I start with Python or Java?",
        "北京的数据分析岗位有多少？",
        "How many AI jobs are there in Shanghai?",
        "Which companies hire the most data engineers?",
    ]
    for question in questions:
        assert plan_of(question, (*COMPANIES, company)) == plan_of(question), (company, question)


def test_a_distinctive_company_name_is_still_recognised() -> None:
    plan = plan_of("What does Siemens pay data engineers?", (*COMPANIES, "in", "AI"))
    assert _subject(plan).companies == ("Siemens",)
    plan = plan_of("How many jobs does Qilin Robotics have?", (*COMPANIES, "Qilin Robotics", "Python"))
    assert _subject(plan).companies == ("Qilin Robotics",)  # a name holding a skill word is still a name


def test_a_chat_models_plan_is_validated_and_the_rules_plan_kept_when_invalid() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from assistant.llm import llm_planner

    rules = plan_of("北京的 NLP 岗位工资多少？")
    good = (
        '{"intent": "comparison", "measure": "salary", "subjects": [{"cities": ["北京"], "roles": ["nlp"]}, '
        '{"cities": ["Shanghai"], "roles": ["nlp"]}]}'
    )
    unknown_role = '{"intent": "figure", "measure": "salary", "subjects": [{"roles": ["astronaut"]}]}'
    unknown_city = '{"intent": "figure", "measure": "salary", "subjects": [{"cities": ["Atlantis"]}]}'
    silly_pay = '{"intent": "figure", "measure": "pay_position", "pays": [3], "subjects": [{}]}'
    propose = llm_planner(FakeListChatModel(responses=[good, unknown_role, unknown_city, silly_pay, "no idea"]))
    planned = propose(rules)
    assert planned.intent == "comparison"
    assert [s.cities for s in planned.subjects] == [("Beijing",), ("Shanghai",)]
    for _ in range(4):
        assert propose(rules) == rules


def test_a_follow_up_keeps_what_the_last_question_asked_beyond_its_entities() -> None:
    from assistant.plan import follow

    first = plan_of("Which city pays the most for NLP jobs?")
    then = make_plan(understand("And for computer vision?", understand("Which city pays the most for NLP jobs?")))
    followed = follow(then, first)
    assert (followed.measure, followed.rank_by, followed.subjects[0].roles) == ("top_cities", "salary", ("cv",))
    bound = plan_of("北京月薪3万以上的岗位有多少？")
    then = make_plan(understand("上海呢？", understand("北京月薪3万以上的岗位有多少？")))
    followed = follow(then, bound)
    assert (followed.measure, followed.subjects[0].cities, followed.subjects[0].pay_min) == (
        "share",
        ("Shanghai",),
        30000,
    )
