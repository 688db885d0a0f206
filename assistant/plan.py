"""From an understood question to one typed `Plan`: what is measured, over which subjects, and which words of
the question each part came from, including the parts that cannot be used and why.

Pure and stdlib only: cue words are data (`data/intents.json`, key "plan"). The planner turns a Plan into
SQL figures; the writer states it back in words. Decisions worth knowing:

* A stated pay with a judging cue ("offer of 10k, high or low?", "月 base 40k 值得去吗") is placed among the
  matching postings (`pay_position`), never answered with a count. Yearly pay (年薪, 总包, TC, "a year") is
  divided by 12; a pay in another currency is named and not converted (the data has no exchange rate).
* A pay with a threshold cue ("more than 30k", "3万以上") bounds the postings and asks for their count and share.
* "AI jobs" means the AI role families, not the skill tag "Artificial Intelligence".
* A job name outside the role families and the skills ("prompt engineer", "AI开发专家") filters titles by its
  own words.
* Advice (ranked target roles and the skill gap) is only for questions about moving into another role.
  Other "should I" questions get the figures that bear on them and a plain word on what the data can't judge.
* Topics the postings cannot speak to (age, school rank, visas, hours, severance, options, interviews...) are
  named with the reason, never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from assistant import vocab
from assistant.money import AMOUNT, ZH_AMOUNT, amount_value, chinese_number, to_monthly
from assistant.reading import AskerFacts, Fact, Part, asker_facts, degree_mentions, with_accounting
from assistant.schema import Filters
from assistant.understand import Profile, Query, _data, _words, city_groups, detect_language, mentions, role_spans

#: What a plan may say it is (see `Plan`).
INTENTS = ("figure", "comparison", "trend", "fact", "advice", "guidance", "decline", "out_of_scope")
MEASURES = ("count", "salary", "share", "top_cities", "top_companies", "top_skills", "top_titles", "pay_position",
            "education", "experience", "top_experience", "pay_equivalent")  # fmt: skip
#: The role families that make up "AI jobs".
AI_FAMILIES = ("llm", "nlp", "ml", "cv", "speech", "ai_infra", "ai_engineering")
#: The role families that make up "programmers" / "tech jobs": every engineering family, not sales or teaching.
TECH_FAMILIES = ("backend", "frontend", "mobile", "devops", "qa", "security", "embedded", "data_engineering",
                 "data_analysis", "ml", "nlp", "cv", "llm", "speech", "ai_infra", "ai_engineering")  # fmt: skip
#: The programming roles a move "into programming" ("转行做程序员", "become a developer") is ranked among.
TECH_TARGETS = ("backend", "frontend", "mobile", "data_engineering", "qa", "devops")
#: Where a worker usually aims when a switching question names no target role.
AI_TARGETS = ("llm", "nlp", "ml", "cv", "ai_infra", "data_engineering", "data_analysis")
#: Experience bands (minimum years a posting asks for) that a stated experience is placed in.
EXPERIENCE_BANDS = ((0, 0), (1, 2), (3, 4), (5, 9), (10, 99))
_AI_SKILL = "Artificial Intelligence"
#: What the plan says of a part of the question, in the asker's language.
_SAY = {
    "en": {
        "ai_roles": "the AI role families (LLM, NLP, ML, CV, speech, AI infrastructure, AI engineering)",
        "title": "job titles containing “{term}”",
        "pay": "{value} CNY a month",
        "yearly": "{value} CNY a month (yearly ÷ 12)",
        "package": "{value} CNY a year, against the postings' yearly totals",
        "month_as_year": "{value} CNY a month, {year} CNY a year at 12 months (no months a year stated)",
        "months": "{months} months of pay a year: {value} CNY a year, against each posting's yearly total",
        "foreign": "pay in another or unstated currency",
        "foreign_why": "the postings are in CNY and no exchange rate is applied",
        "take_home": "take-home pay",
        "take_home_why": "postings advertise pre-tax pay, so your figure is compared as written",
        "more": "postings paying more than {value} CNY a month",
        "less": "postings paying less than {value} CNY a month",
        "band": "postings asking for {low}–{high} years",
        "band_top": "postings asking for {low}+ years",
        "experience": "years of experience",
        "experience_why": "used only for pay figures",
        "education": "the degree asked about",
        "forecast": "a forecast",
        "forecast_why": "the data can't predict; it shows how postings moved between snapshots",
        "ai_qualified": "{role} postings that list AI skills",
        "tech_roles": "the engineering role families (not sales, teaching or other jobs)",
        "graduate": "postings for new graduates (no experience asked)",
        "degree_cohort": "postings asking for {level}",
        "difficulty": "how hard a search is",
        "seniority": "pay by the experience postings ask for",
        "ranking_row": "a row of the pay-by-experience ranking",
        "feasibility": "whether it will work for you",
        "ability": "your ability",
        "tracks": "the tracks you name, side by side",
        "depth": "how much maths the work needs",
        "skill_worth": "how many AI postings still list the skill",
        "competition": "how crowded the market is",
        "learning_path": "how people got started",
        "opinion": "an opinion",
        "opinion_why": "the postings and articles hold figures and reports, not opinions",
        "ruled_out": "a role you rule out, so not a population here",
        "year_range": "every year from {first} to {last}",
        "between": "postings paying between {low} and {high} CNY a month",
        "equivalent": "the pay at the same position among the other place's postings",
        "open_to": "your experience, against what the postings ask",
    },
    "zh": {
        "ai_roles": "AI岗位（大模型、自然语言处理、机器学习、计算机视觉、语音、AI基础设施、AI工程）",
        "title": "职位名称含“{term}”的职位",
        "pay": "月薪 {value} 元",
        "yearly": "月薪 {value} 元（年薪÷12）",
        "package": "年薪 {value} 元，与职位的年薪总额比较",
        "month_as_year": "月薪 {value} 元，按 12 个月计为年薪 {year} 元（未写明每年薪数）",
        "months": "每年 {months} 薪：年薪 {value} 元，与每个职位的年薪总额比较",
        "foreign": "外币或未注明币种的薪资",
        "foreign_why": "招聘数据以人民币计，不做汇率换算",
        "take_home": "到手收入",
        "take_home_why": "招聘数据是税前薪资，按你写的数字比较",
        "more": "月薪高于 {value} 元的职位",
        "less": "月薪低于 {value} 元的职位",
        "band": "要求 {low}–{high} 年经验的职位",
        "band_top": "要求 {low} 年以上经验的职位",
        "experience": "工作年限",
        "experience_why": "只用于薪资数字",
        "education": "所问的学历",
        "forecast": "预测",
        "forecast_why": "数据无法预测未来，只能显示不同时期快照中职位的变化",
        "ai_qualified": "要求AI技能的{role}职位",
        "tech_roles": "技术类岗位（不含销售、教学等其他职位）",
        "graduate": "面向应届生的职位（不要求经验）",
        "degree_cohort": "要求{level}学历的职位",
        "difficulty": "求职难度",
        "seniority": "按职位要求的经验年限看薪资",
        "ranking_row": "按经验排列的薪资中的一行",
        "feasibility": "是否可行",
        "ability": "个人能力",
        "tracks": "你列出的方向并排比较",
        "depth": "需要多少数学",
        "skill_worth": "AI岗位中仍要求该技能的比例",
        "competition": "竞争程度",
        "learning_path": "学习路径",
        "opinion": "看法",
        "opinion_why": "招聘数据和文章只有数字和报道，没有个人看法",
        "ruled_out": "你排除的方向，因此不计入",
        "year_range": "{first} 年到 {last} 年的每一年",
        "between": "月薪在 {low} 到 {high} 元之间的职位",
        "equivalent": "在另一地职位中处于同一位置的月薪",
        "open_to": "你的经验，与职位要求的经验对比",
    },
}


_LEVEL_WORDS = {"en": {"phd": "a PhD", "master": "a master's degree", "bachelor": "a bachelor's degree",
                        "college": "a junior-college (大专) degree"},
                 "zh": {"phd": "博士", "master": "硕士", "bachelor": "本科", "college": "大专"}}  # fmt: skip


def _say(lang: str, key: str, **values: Any) -> str:
    return _SAY[lang][key].format(**values)


@dataclass(frozen=True)
class StatedPay:
    """A pay amount written in the question, as monthly CNY where it can be."""

    words: str
    monthly: float | None  # None when in another currency
    period: str  # month, year, day
    bound: str = ""  # "above" / "below" for a threshold, "" for a stated pay
    low: float | None = None  # a range's ends, monthly ("2万到3万"), when written as a range
    high: float | None = None


@dataclass(frozen=True)
class Plan:
    """One question, planned: what is measured over which subjects, and how each part of it was read.

    `intent`: figure, comparison, trend, fact, advice, guidance (a "should I" with figures that bear on it),
    decline (nothing in the data answers it) or out_of_scope. `measure`: count, salary, share, top_city,
    top_company, top_skill, top_title, pay_position, education or experience. `subjects` are the
    populations measured, one per side of a comparison. `rank_by` is "count" or "salary" for top_* measures.
    """

    query: Query
    intent: str
    measure: str | None
    subjects: tuple[Filters, ...]
    rank_by: str = "count"
    pays: tuple[float, ...] = ()  # stated monthly pays to place; with one subject per pay when paired
    yearly: tuple[float | None, ...] = ()  # per pay: the yearly package it was stated as (年薪, "16薪"), else None
    parts: tuple[Part, ...] = ()
    period: str = ""  # "this_year" / "last_year": resolved against the newest data by the planner
    extra_measures: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # advice: the role families to rank
    target_skills: tuple[str, ...] = ()
    compare_kind: str = ""  # the filter kind the subjects differ in
    targets_named: bool = False  # advice: the asker named where they aim
    asker: AskerFacts = AskerFacts()  # what the asker says of themselves (experience, degree, age...)
    origins: tuple[str, ...] = ()  # advice: the role families the asker moves from

    @property
    def language(self) -> str:
        return self.query.language

    @property
    def stated_pay(self) -> float | None:
        return self.pays[0] if self.pays else None

    @property
    def text(self) -> str:
        return self.query.text

    @property
    def profile(self) -> Profile | None:
        return self.query.profile

    def unused(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if not p.used)


@cache
def _cue(name: str) -> re.Pattern[str]:
    node: Any = _data()["plan"]
    for part in name.split("."):
        node = node[part]
    if isinstance(node, dict):
        node = node["words"] if "words" in node else [w for words in node.values() for w in words]
    return vocab.alias_pattern(node)


def _english(text: str) -> bool:
    """Whether a text is English, where lower-case "go", "rust" or "excel" are words, not skills."""
    return detect_language(text) == "en"


def _has(name: str, text: str) -> bool:
    return bool(_cue(name).search(text))


_CJK = re.compile(r"[\u3400-\u9fff]")
def stated_pays(text: str) -> list[StatedPay]:
    """Pay amounts in a question: "10,000 RMB per month", "年薪 30w", "20w-30w 总包", "TC: 135K", "3万以上"."""
    found: list[StatedPay] = []
    hits: list[tuple[int, int, re.Match[str] | None]] = [(m.start(), m.end(), m) for m in AMOUNT.finditer(text)]
    hits += [(m.start(), m.end(), None) for m in ZH_AMOUNT.finditer(text)]
    for start, end, hit in sorted(hits, key=lambda h: h[0]):
        before, after = text[max(0, start - 12) : start], text[end : end + 14]
        if hit is not None:
            mult, unit, cur = hit.group("mult"), (hit.group("unit") or ""), (hit.group("cur") or "")
            money_cue = mult or unit or cur or re.search(r"薪|工资|base|salary|pay|offer|包|TC|收入", before, re.I)
            if not money_cue or (not (mult or unit or cur) and re.fullmatch(r"(?:19|20)\d\d", hit.group("num"))):
                continue  # "5 years", "2017", "985" are not pay ("pay in 2017" is a year)
            value = amount_value(hit.group("num"), mult)
            ends: tuple[float, float] | None = None
            if hit.group("num2"):
                second = amount_value(hit.group("num2"), hit.group("mult2") or mult)
                if mult is None and hit.group("mult2"):
                    value = amount_value(hit.group("num"), hit.group("mult2"))  # "2到3万": the unit after both
                ends = (value, second)
                value = (value + second) / 2
        else:
            value = chinese_number(text[start:end])
            cur = unit = ""
            ends = None
        words = text[start:end].strip()
        near = f"{before} {words} {after}"
        if _cue("fee").search(after[:10]) or _cue("fee").search(before[-6:]):
            continue  # "3 万 AI 培训": a course fee, not pay
        foreign = bool(_cue("foreign_currency").search(f"{cur}{unit} {after[:8]}"))
        # "TC: 135K" on an English forum is a yearly package in an unstated currency: not CNY by default.
        if re.search(r"\bTC\b|total comp", before, re.I) and not re.search(r"rmb|cny|yuan|元|万|\d\s*w\b", near, re.I):
            foreign = True
        ctx_before = before[-8:]
        period = "month"
        if _cue("year_pay").search(ctx_before) or _cue("year_pay").search(after[:10]):
            period = "year"
        elif found and found[-1].period == "year" and re.search(r"(?:万|[kKwW]|元)\s*[、,，和及与/]\s*$", before):
            period = "year"  # "年薪 10 万、30 万、50 万": a list of pays shares the period written before its first
        if _cue("month_pay").search(after[:10]) or re.search(r"月\s*(?:base)?\s*$|monthly\s*$", ctx_before, re.I):
            period = "month"
        elif _cue("day_pay").search(after[:6]) and not _cue("year_pay").search(ctx_before):
            period = "day"
        monthly = None if foreign else to_monthly(value, period)
        if monthly is not None and not 1000 <= monthly <= 1_000_000:
            continue
        bound = ""
        if _cue("above").search(before[-14:]) or re.match(r"\s*(?:以上|\+|or more|plus)", after, re.I):
            bound = "above"
        elif _cue("below").search(before[-14:]) or re.match(r"\s*(?:以下|以内|or less)", after, re.I):
            bound = "below"
        low = high = None
        if hit is not None and ends is not None and monthly is not None:
            factor = monthly / value
            low, high = round(ends[0] * factor, 2), round(ends[1] * factor, 2)
        found.append(StatedPay(words, round(monthly, 2) if monthly else None, period, bound, low, high))
    return found


def _ai_jobs(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """ "AI jobs" is the AI role families, not the skill tag "Artificial Intelligence"."""
    hit = _cue("ai_jobs").search(query.text)
    if not hit or _AI_SKILL not in base.skills or base.roles:
        return base, []
    skills = tuple(s for s in base.skills if s != _AI_SKILL)
    return base.with_(roles=AI_FAMILIES, skills=skills), [Part(hit.group(0), _say(query.language, "ai_roles"))]


def _ruled_out(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """Roles the asker rules out in the same clause as a negation ("not interested in back-end coding", "不想做后端"):
    not a population of the answer, and said so."""
    text, parts = query.text, []
    negation = _cue("negation")
    ruled: list[str] = []
    for start, end, family in role_spans(text):
        clause = re.split(r"[,，。;；!！?？\n]|\.(?!\w)", text[:start])[-1]
        if family in base.roles and negation.search(clause):
            ruled.append(family)
            label = vocab.role_label(family, query.language)
            parts.append(Part(text[start:end], label, _say(query.language, "ruled_out")))
    if not ruled or len(ruled) == len(base.roles):
        return base, parts if ruled and len(ruled) < len(base.roles) else []
    return base.with_(roles=tuple(r for r in base.roles if r not in ruled)), parts


def _tech_jobs(query: Query, base: Filters) -> tuple[Filters, list[Part], bool]:
    """ "Programmers", "开发的工作": the engineering role families, not every posting (sales, HR, teaching...).
    Returns the filters, the part, and whether the word named a population of its own beside a named role."""
    hit = _cue("tech_jobs").search(query.text)
    if not hit:
        return base, [], False
    part = [Part(hit.group(0), _say(query.language, "tech_roles"))]
    if base.roles or base.skills or base.title_terms or base.companies:
        return base, part, True
    return base.with_(roles=TECH_FAMILIES), part, False


def _title_alias(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A job name with known title words but no role family of its own ("data scientist" -> 数据科学, data scien)."""
    hit = _cue("title_aliases").search(text)
    if not hit:
        return None
    key = next(k for k, words in _data()["plan"]["title_aliases"].items()
               if vocab.alias_key(hit.group(0)) in {vocab.alias_key(w) for w in words})  # fmt: skip
    return hit.group(0), tuple(_data()["plan"]["title_words"][key])


def _named_titles(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """Title words a question's job name carries: a known job name outside the families ("data scientist"),
    a seniority word on the job ("AI 开发专家", "senior data engineer"), and "AI" on a non-AI role
    ("AI产品经理": product postings that list AI)."""
    text, lang = query.text, query.language
    parts: list[Part] = []
    alias = _title_alias(text)
    others = mentions(text, (), strict_case=_english(text))
    if alias and not [r for r in others.roles if r != "ml"] and not ({"ml"} & set(base.roles) and "ml" in text.lower()):
        words, terms = alias
        roles = tuple(r for r in base.roles if r != "ml")  # "data scientist" is not every ML posting
        base = base.with_(roles=roles, title_terms=terms)
        parts.append(Part(words, _say(lang, "title", term=" / ".join(terms)), term=terms[0]))
    nouns = "|".join([*_data()["plan"]["job_nouns_zh"], *_data()["plan"]["job_nouns_en"]])
    for word in _data()["plan"]["seniority"]:
        pattern = rf"{re.escape(word)}\s*(?:[\w-]+\s*){{0,2}}(?:{nouns})|(?:{nouns})\s*{re.escape(word)}"
        hit = re.search(pattern, text, re.I) if _CJK.search(word) else re.search(rf"\b{pattern}\b", text, re.I)
        if hit and (base.roles or base.skills or base.title_terms):
            base = base.with_(title_terms=(*base.title_terms, word))
            parts.append(Part(hit.group(0).strip(), _say(lang, "title", term=word), term=word))
            break
    # "AI" by Latin letters only: in "AI产品经理" no word boundary separates it from the Chinese after it.
    ai_word = r"(?:(?<![A-Za-z])AI(?![A-Za-z])|A\.I\.|人工智能|大模型)"
    qualified = re.search(ai_word + r"\s*([\u4e00-\u9fffA-Za-z ]{2,24})", text)
    if qualified and base.roles and base.roles != AI_FAMILIES:
        role = mentions(qualified.group(1), (), strict_case=_english(text)).roles
        if role and role[0] not in AI_FAMILIES:
            base = base.with_(roles=(role[0],), skills=(_AI_SKILL,))
            # The words read are "AI" and the job name: the shortest start that already names the role.
            rest = qualified.group(1)
            end = next((i for i in range(1, len(rest) + 1)
                        if role[0] in mentions(rest[:i], (), strict_case=_english(text)).roles), len(rest))  # fmt: skip
            while end < len(rest) and rest[end].isascii() and rest[end].isalpha():
                end += 1  # the whole word: "managers", not "manager"
            words = qualified.group(0)[: qualified.start(1) - qualified.start(0) + end].strip()
            parts.append(Part(words, _say(lang, "ai_qualified", role=vocab.role_label(role[0], lang))))
    return base, parts


_GENERIC_TECH = ("backend", "frontend", "mobile")


def _language_jobs(query: Query, base: Filters, pays: bool) -> tuple[Filters, list[Part]]:
    """A language or platform named as the job ("Java开发", "a Go developer", "Java 年薪 30w"): the postings whose
    title names it, not every posting that lists the skill (the 51job set is a search for "Python", so its
    postings list Java without being Java jobs). Asked as something to learn or know, it stays a skill."""
    table, ctx = _data()["plan"]["language_jobs"], _data()["plan"]["job_context"]
    text = query.text
    other_roles = [r for r in base.roles if r not in _GENERIC_TECH]
    parts: list[Part] = []
    terms: list[str] = []
    named: list[str] = []
    for start, end, skill in vocab.skill_spans(text):
        if skill not in table or skill not in query.skills or skill in named:
            continue
        clause = re.split(r"[,，。.;；!！?？\n]", text[:start])[-1] + re.split(r"[,，。;；!！?？\n]", text[start:])[0]
        after = _cue("job_context.after").match(text[end:].lstrip())
        if _learning(clause) or (_cue("job_context.not").search(clause) and not after):
            continue
        before = re.search(r"(?:^|[\s(（])(?:" + "|".join(map(re.escape, ctx["before"])) + r")\s*$", text[:start], re.I)
        alone = not other_roles and (pays or _asks_pay(text) or query.intent in ("figure", "comparison", "trend"))
        if not (after or before or alone) or other_roles:
            continue
        named.append(skill)
        terms += [t for t in table[skill] if t not in terms]
        words = text[start : end + (len(text[end:]) - len(text[end:].lstrip()) + after.end() if after else 0)].strip()
        parts.append(Part(words, _say(query.language, "title", term=" / ".join(table[skill]))))
    if not named:
        return base, []
    roles = tuple(r for r in base.roles if r not in _GENERIC_TECH)
    skills = tuple(s for s in base.skills if s not in named)
    return base.with_(roles=roles, skills=skills, title_terms=(*base.title_terms, *terms)), parts


def _title_terms(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """A job name outside the role families and skills becomes a title filter on its own words."""
    text = query.text
    nouns_en = "|".join(_data()["plan"]["job_nouns_en"])
    parts: list[Part] = []
    terms: list[str] = []
    for hit in re.finditer(rf"\b((?:[A-Za-z][\w+#.-]*\s+){{0,1}}[A-Za-z][\w+#.-]*)\s+(?:{nouns_en})\b", text, re.I):
        head = hit.group(1)
        last = head.split()[-1]
        if last.lower() in ("a", "an", "the", "as", "my", "ai", "software", "senior", "junior", "an"):
            continue
        if _known(head) or _known(last) or _known(hit.group(0)):
            continue
        terms.append(last)  # "How many FAE engineer jobs": FAE, not "many FAE"
        parts.append(Part(hit.group(0), _say(query.language, "title", term=terms[-1]), term=terms[-1]))
    nouns_zh = "|".join(_data()["plan"]["job_nouns_zh"])
    for hit in re.finditer(rf"((?:[A-Za-z]+\s*)?[\u4e00-\u9fff]{{1,4}}?)(?:{nouns_zh})", text):
        head = re.sub(r"\s+", "", hit.group(1))
        # "有多少个岗位", "哪些职位": the words before the noun ask about jobs, they do not name one.
        head = re.sub(r"^.*?(?:多少|几|哪些|哪个|哪|什么|怎样|怎么)(?:个|种|类|份)?", "", head)
        head = re.sub(r"^(?:的|做|当|个|名|位|老|资深|高级|初级|中级|一个|一名)+", "", head)
        if len(head) < 2 or _known(hit.group(0)) or _known(head) or re.search(r"[的是在做找被]|裁|离职|失业", head):
            continue
        terms.append(head)
        parts.append(Part(hit.group(0).strip(), _say(query.language, "title", term=head), term=head))
    if not terms:
        return base, []
    return base.with_(title_terms=tuple(dict.fromkeys(terms))), parts


_STOP = {"a", "an", "the", "as", "my", "our", "for", "to", "of", "and", "or", "is", "be", "do", "does", "what",
         "senior", "junior", "lead", "good", "experienced"}  # fmt: skip


def _stop(word: str) -> bool:
    return word.lower() in _STOP


def _known(words: str) -> bool:
    """Does a role family, a skill or a city already name these words?"""
    found = mentions(words, (), strict_case=_english(words))
    return bool(found.roles or found.skills or found.cities) or _stop(words)


_AGE = re.compile(
    r"\b(?:I'm|I am|aged?)\s+(\d{2})\b(?!\s*(?:k\b|w\b|years? of|yrs|万|千|%))|\b(\d{2})[- ]years?[- ]olds?\b", re.I
)


def _unanswerable(text: str, language: str) -> list[Part]:
    parts = []
    if (age := _AGE.search(text)) and 16 <= int(age.group(1) or age.group(2)) <= 70:
        topic = _data()["plan"]["unanswerable"]["age"]
        parts.append(Part(age.group(0), "age", topic["reason"][language], topic=True))
    for name, topic in _data()["plan"]["unanswerable"].items():
        hit = _cue(f"unanswerable.{name}").search(text)
        if hit:
            parts.append(Part(hit.group(0), name, topic["reason"][language], topic=True))
    return parts


_BAND_TEXT = re.compile(r"(\d+)\s*(?:\+|[-–~到至]\s*(\d+))?\s*(?:years?|yrs?|年)", re.I)


def _experience_points(text: str, graduate: re.Match[str] | None) -> list[tuple[tuple[int, int], str]]:
    """Experience bands a question sets side by side ("应届和五年", "1-3 years vs 5+ years"), in order, each with
    its words."""
    bands: list[tuple[tuple[int, int], str]] = [((0, 0), graduate.group(0))] if graduate else []
    for hit in _BAND_TEXT.finditer(text):
        low = int(hit.group(1))
        if low > 40:
            continue  # a year ("2019年"), not experience
        if hit.group(2):
            band = (low, int(hit.group(2)))
        else:
            band = experience_band(low) if "+" not in hit.group(0) else (low, 99)
        if band not in [b for b, _ in bands]:
            bands.append((band, hit.group(0).strip()))
    zh = asker_facts(text).experience
    if zh is not None and not bands[1:] and experience_band(zh.value) not in [b for b, _ in bands]:
        bands.append((experience_band(zh.value), zh.words))
    return bands


def experience_band(years: float) -> tuple[int, int]:
    """The experience band (minimum years a posting asks for) that a stated experience falls in."""
    return next(band for band in EXPERIENCE_BANDS if band[0] <= round(years) <= band[1] or band == EXPERIENCE_BANDS[-1])


def _degree_words(text: str) -> str:
    """The degree words as the asker wrote them ("Masters/PhD", "硕士")."""
    pattern = vocab.alias_pattern(w for words in _data()["plan"]["education_levels"].values() for w in words)
    return "/".join(dict.fromkeys(m.group(0) for m in pattern.finditer(text)))


def _education_levels(text: str) -> tuple[str, ...]:
    levels = _data()["plan"]["education_levels"]
    return tuple(level for level, words in levels.items() if vocab.alias_pattern(words).search(text))


_CLAUSE_END = re.compile(r"[.?!。？！；;\n]")
_YEAR_RANGE = re.compile(
    r"((?:19|20)\d{2})\s*年?\s*(?:到|至|-|–|~|to|through|until|and)\s*((?:19|20)\d{2})\s*年?", re.I
)


@cache
def _role_words() -> re.Pattern[str]:
    """Every question-side alias of a role family ("machine learning", "NLP", "大模型")."""
    return vocab.alias_pattern(_words(_data()["roles"]))


def _side(found: Any, text: str) -> dict[str, Any]:
    """What one side of a comparison names: places, companies, boards, and its job (a job name's title words,
    else role families, else skills)."""
    side: dict[str, Any] = {
        k: tuple(getattr(found, k)) for k in ("cities", "companies", "sources") if getattr(found, k)
    }
    alias = _title_alias(text)
    if alias:
        side["job"] = ("title_terms", alias[1])
    elif found.roles:
        side["job"] = ("roles", tuple(found.roles))
    elif found.skills:
        side["job"] = ("skills", tuple(found.skills))
    return side


def _with_side(base: Filters, side: dict[str, Any], kind: str) -> Filters:
    if kind == "job":
        name, values = side["job"]
        return base.with_(**{"roles": (), "skills": (), "title_terms": (), name: values})
    return base.with_(**{kind: side[kind]})


def _split_sides(text: str, base: Filters, companies: tuple[str, ...]) -> tuple[Filters, Filters, str] | None:
    """Two sides of a comparison split at its cue ("ML compared with Java jobs", "深圳 vs 全国", "Java还是大模型"):
    the first kind both sides name with different values is compared (places, companies, boards, then the job:
    role families, else skills); "all cities" on the second side drops that kind there. The second side ends
    with its clause, so what follows ("I have some experience in NLP") is not part of it."""
    for kind, words in _data()["plan"]["all_of_kind"].items():
        # "深圳的后端工资比其他城市高吗": the place named before "other cities" against all of them.
        hit = vocab.alias_pattern(words).search(text)
        named = getattr(mentions(text[: hit.start()], companies, strict_case=_english(text)), kind) if hit else []
        if hit and named:
            return base.with_(**{kind: tuple(named)}), base.with_(**{kind: ()}), kind
    between = re.search(r"\bbetween\s+(.+?)\s+and\s+(.+?)(?=[,.?!;]|$)|在(.+?)和(.+?)之间", text)
    hits: list[tuple[str, str]] = [(between.group(1) or between.group(3), between.group(2) or between.group(4))] \
        if between else []  # fmt: skip
    for hit in _cue("compare_split").finditer(text):
        hits.append((_CLAUSE_END.split(text[: hit.start()])[-1], _CLAUSE_END.split(text[hit.end() :], maxsplit=1)[0]))
    for left, right in hits:
        strict = _english(text)
        a, b = mentions(left, companies, strict_case=strict), mentions(right, companies, strict_case=strict)
        sides = [_side(a, left), _side(b, right)]
        for kind, words in _data()["plan"]["all_of_kind"].items():
            if vocab.alias_pattern(words).search(right) and sides[0].get(kind):
                return base.with_(**{kind: sides[0][kind]}), base.with_(**{kind: ()}), kind
        own = list(vocab.find_skills(_role_words().sub(" ", left)))  # skills beside the role's own words
        own = [x for x in own if x != _AI_SKILL]
        within = tuple(a.roles) or (base.roles if base.roles == AI_FAMILIES else ())
        if within and own and sides[1].get("job", ("",))[0] == "skills":
            # "Among ML jobs, PyTorch versus TensorFlow", "做人工智能，除了 Python，学 C++ 还是 Java": the skill named
            # right before the cue against the one after, within the role named first.
            first = base.with_(roles=within, skills=tuple(own[-1:]))
            return first, first.with_(skills=sides[1]["job"][1]), "skills"
        for kind in ("cities", "companies", "sources", "job"):
            if kind in sides[0] and kind in sides[1] and sides[0][kind] != sides[1][kind]:
                first, second = _with_side(base, sides[0], kind), _with_side(base, sides[1], kind)
                if first != second:
                    return first, second, "skills" if kind == "job" and sides[0]["job"][0] == "skills" \
                        and sides[1]["job"][0] == "skills" else ("roles" if kind == "job" else kind)  # fmt: skip
    return None


def _two_of(base: Filters) -> tuple[tuple[Filters, ...], str]:
    for kind in ("cities", "roles", "companies", "sources", "title_terms", "skills"):
        values = getattr(base, kind)
        if kind == "roles" and values == AI_FAMILIES:
            continue  # "AI jobs" is one population
        if len(values) >= 2 and not (kind == "skills" and base.roles):
            return tuple(base.with_(**{kind: (v,)}) for v in values), kind
    return (base,), ""


def make_plan(query: Query, companies: tuple[str, ...] = ()) -> Plan:
    """Plan a question understood by `understand`: measure, subjects and the part each word played."""
    text = unicodedata.normalize("NFKC", query.text).replace("’", "'")
    lang = query.language
    facts_early = asker_facts(text)
    life_years = {f.value for f in (facts_early.graduation, facts_early.birth) if f is not None}
    years = tuple(y for y in query.years if y not in life_years)  # "graduated in 2021" is no filter on postings
    parts: list[Part] = []
    span = _YEAR_RANGE.search(text)
    if span and int(span.group(1)) < int(span.group(2)) <= int(span.group(1)) + 30:
        # "2023到2025年", "from 2017 to 2023": every year between, not the two ends.
        years = tuple(range(int(span.group(1)), int(span.group(2)) + 1))
        parts.append(Part(span.group(0).strip(), _say(lang, "year_range", first=span.group(1), last=span.group(2))))
    base = Filters(
        cities=query.cities, roles=query.roles, skills=() if query.roles else query.skills,
        companies=query.companies, years=years, sources=query.sources,
    )  # fmt: skip
    base, found = _ai_jobs(query, base)
    parts += found
    base, found = _named_titles(query, base)
    parts += found
    base, found = _language_jobs(query, base, bool(stated_pays(text)))
    parts += found
    base, found = _ruled_out(query, base)
    parts += found
    base, found, tech_beside = _tech_jobs(query, base)
    parts += found
    if not base.roles and not base.skills and not base.companies and not base.title_terms:
        base, found = _title_terms(query, base)
        parts += found
    parts += _unanswerable(text, lang)
    intent, measure = query.intent, query.measure
    if intent == "out_of_scope" and base.title_terms and _measure_of(text):
        intent, measure = "figure", _measure_of(text)  # "标注员一个月能挣多少钱": a job name with a measure
    if intent == "out_of_scope" and (base.roles or _has("education", text)) and not any(p.topic for p in parts):
        intent, measure = "guidance", "salary"  # "互联网开发岗本科生和研究生的差别大吗": the postings can speak to it
    if intent == "out_of_scope":
        # A topic the data lacks, named ("retirement age", "996"): a decline that says so, not a generic refusal.
        return with_accounting(
            Plan(query, "decline" if any(p.topic for p in parts) else intent, None, (), parts=tuple(parts)), companies
        )
    pays = stated_pays(text)
    judging = _has("judge", text)
    needs_skills = _has("skills_needed", text)
    period = "this_year" if _has("this_year", text) else "last_year" if _has("last_year", text) else ""
    if period and query.years:
        period = ""
    extra: list[str] = []
    rank_by = "count"
    placed: list[float] = []
    packages: list[float | None] = []
    switching = _has("switch", text) or bool(re.search(r"从[^，。,.?？!！]{1,15}?转", text))  # "从后端开发转产品经理"
    # "想在杭州转产品经理": 转 right before a role names the move.
    switching = switching or any(
        re.search(r"转[行型做到向入岗去]?\s*$", text[max(0, a - 4) : a]) for a, _, _ in role_spans(text)
    )
    # "From backend to product management": a role after "from" and another after "to" name a move.
    move = re.search(r"\bfrom\b(?P<a>[^.?!;]{2,40}?)\b(?:to|into)\b(?P<b>[^.?!;]{2,40})", text, re.I)
    if move and role_spans(move.group("a")) and role_spans(move.group("b")):
        switching = True
    first_person = bool(query.profile or asker_facts(text).facts() or _has("career_advice", text)
                        or re.search(r"\b(?:I|I'm|I've|my|me)\b|我", text))  # fmt: skip
    if switching and intent in ("fact", "figure") and first_person and not _has("source_cues", text) \
            and not re.match(r"\s*(?:why|为什么)", text, re.I):  # fmt: skip
        intent = "advice"  # "I work with webdev… try to re-skill in AI?": the asker's own move
    if switching and intent == "comparison" and re.search(r"从[^，。,.?？!！]{1,15}?转|\bfrom\b", text, re.I):
        intent = "advice"  # "从后端转产品经理可行吗": where they come from and where they aim, not two markets
    if any(p.monthly is None for p in pays) and query.profile and query.profile.monthly_pay:
        query = replace(query, profile=replace(query.profile, monthly_pay=None))  # "TC 135K" is not 135k CNY
    for pay in pays:
        if pay.monthly is None:
            parts.append(Part(pay.words, _say(lang, "foreign"), _say(lang, "foreign_why")))
    cny = [p for p in pays if p.monthly is not None]
    if cny and (hit := _cue("take_home").search(text)):
        parts.append(Part(hit.group(0), _say(lang, "take_home"), _say(lang, "take_home_why")))
    # "有报告称…薪资超过 6.7 万元": a reported figure is placed among the postings, not a bound on them.
    bounded = [p for p in cny if p.bound] if not _has("reported", text) else []
    between = re.search(r"之间|\bbetween\b|范围内", text)
    ranged = [p for p in cny if p.low is not None and p.high is not None]
    if ranged and between and intent != "advice" and not bounded:
        # "月薪在2万到3万之间的有多少": both bounds, the postings whose pay lies between them.
        pay = ranged[0]
        assert pay.low is not None and pay.high is not None
        base = base.with_(pay_min=pay.low, pay_max=pay.high)
        parts.append(Part(pay.words, _say(lang, "between", low=f"{pay.low:,.0f}", high=f"{pay.high:,.0f}")))
        intent, measure = "figure", "share"
    elif bounded and intent != "advice":
        pay = bounded[0]
        assert pay.monthly is not None
        base = base.with_(**{"pay_min" if pay.bound == "above" else "pay_max": pay.monthly})
        key = "more" if pay.bound == "above" else "less"
        parts.append(Part(pay.words, _say(lang, key, value=f"{pay.monthly:,.0f}")))
        intent, measure = "figure", "share"
    elif cny and (judging or measure in ("salary", None) or intent in ("figure", "fact") or _has("equivalent", text)) \
            and not switching \
            and not needs_skills:  # fmt: skip
        profile = query.profile
        if profile and profile.role and profile.role != "other" and not (base.roles or base.skills or base.title_terms):
            base = base.with_(roles=(profile.role,))  # "I earn 12,000 as a QA engineer": among QA postings
        months = asker_facts(text).months_a_year
        for pay in cny:
            assert pay.monthly is not None
            placed.append(pay.monthly)
            if pay.period == "year":
                # A package is compared with the postings' yearly totals (their months a year), not ÷ 12 alone.
                packages.append(round(pay.monthly * 12))
                parts.append(Part(pay.words, _say(lang, "package", value=f"{pay.monthly * 12:,.0f}")))
            elif months is not None and pay.period == "month":
                packages.append(round(pay.monthly * months.value))
                parts.append(Part(pay.words, _say(lang, "pay", value=f"{pay.monthly:,.0f}")))
                parts.append(Part(months.words, _say(lang, "months", months=months.value,
                                                      value=f"{pay.monthly * months.value:,.0f}")))  # fmt: skip
            else:
                packages.append(None)
                parts.append(Part(pay.words, _say(lang, "pay", value=f"{pay.monthly:,.0f}")))
        if any(p is not None for p in packages) and None in packages:
            # "20w-30w 总包 VS 北京 20k 月薪": both sides as yearly totals, the monthly one at 12 months, said so.
            for i, (pay, package) in enumerate(zip(cny, packages, strict=True)):
                if package is None and pay.monthly is not None:
                    packages[i] = round(pay.monthly * 12)
                    parts = [p for p in parts if p.words != pay.words]
                    parts.append(Part(pay.words, _say(lang, "month_as_year", value=f"{pay.monthly:,.0f}",
                                                      year=f"{pay.monthly * 12:,.0f}")))  # fmt: skip
        intent, measure = "figure", "pay_position"
    asker = asker_facts(text)
    experience = experience_band(asker.experience.value) if asker.experience else None
    graduate = _cue("graduate").search(text) or re.search(r"\d{2}\s*届", text)  # "20 届": the class of 2020
    if experience is None and graduate:
        base = base.with_(experience_years=(0, 0))  # new graduates: postings that ask for no experience
        parts.append(Part(graduate.group(0), _say(lang, "graduate")))
    elif experience is not None and asker.experience is not None:
        if measure in ("salary", "pay_position") or intent == "figure" or _asks_pay(text):
            base = base.with_(experience_years=experience)
            low, high = experience
            band = _say(lang, "band_top", low=low) if high >= 99 else _say(lang, "band", low=low, high=high)
            parts.append(Part(asker.experience.words, band))
        else:
            parts.append(Part(asker.experience.words, _say(lang, "experience"), _say(lang, "experience_why")))
    education_asked = _has("education", text)
    levels = _education_levels(text)
    # A degree is asked about when a clause names one together with a need ("do I need a Master's?"); a degree
    # in a self-description ("民办本科教职…培训值得报吗") is not.
    degree_asked = any(_has("education", c) and _has("requirement", c)
                       for c in re.split(r"[,，。;；!！?？\n]|\.(?!\w)", text))  # fmt: skip
    if degree_asked and asker.degree is not None and not re.search(r"\bI (?:have|hold|did|got)\b|我是|本人|我", text):
        # "Is a B.Tech important…? Can I get an ML job if I don't?": the degree is asked about, not held.
        asker = replace(asker, degree=None)
    if education_asked and degree_asked and not placed and not _asks_pay(text):
        switching = False  # "to work in ML, should I do a PhD?" asks about the degree, not about moving
        intent, measure = ("figure", "education") if intent != "comparison" else (intent, measure)
        if levels:
            parts.append(Part(_degree_words(text), _say(lang, "education")))
    elif education_asked and levels and measure == "share" and not placed:
        intent, measure = "figure", "education"  # "本科在上海的岗位里占多少": each degree's share, the asked one too
        parts.append(Part(_degree_words(text), _say(lang, "education")))
    elif education_asked and levels and measure == "count":
        base = base.with_(education=levels)  # "how many ML postings want a PhD"
        parts.append(Part(_degree_words(text), _say(lang, "education")))
    elif education_asked and levels:
        extra.append("education")
    if experience is None and _has("experience_asked", text) and not placed:
        intent, measure = "figure", "experience"  # "大模型岗位一般要求几年经验"
    clauses = [c for c in re.split(r"[,，。;；?？]|\band\b|以及|还有", text) if c.strip()]
    measured = [m for m in (_measure_of(c) for c in clauses) if m]
    if intent == "figure" and measure not in ("education", "pay_position", "share") and len(measured) > 1 \
            and measured[0] in ("count", "salary"):  # fmt: skip
        # "How many NLP jobs in Beijing, and which cities come next?": each part answered, the first first.
        measure = measured[0]
        extra += [m for m in dict.fromkeys(measured[1:]) if m in ("top_cities", "top_companies", "top_skills")]
    if placed and (_has("level", text) or _has("experience_asked", text)):
        extra.append("level")  # "年薪30w该达到什么水平", "总包40w一般要几年经验": what postings paying that much ask
    if (_has("salary_asked", text) or _WHAT_MAKE.search(text)) and measure in (None, "count"):
        measure = "salary"
        if intent == "figure" or (intent == "fact" and not _has("source_cues", text)):
            intent = "figure"  # "how much did demand grow according to the report" stays a question for the articles
    if measure and measure.startswith("top_") and _has("rank_by_pay", text) and measure != "top_skills":
        rank_by = "salary"
    subjects: tuple[Filters, ...] = (base,)
    compare_kind = ""
    if len(placed) >= 2 and len(base.cities) == len(placed):
        # "广州 15k，去上海能拿 20K 吗": each pay is placed in the city written before it.
        subjects, compare_kind = tuple(base.with_(cities=(c,)) for c in base.cities), "cities"
    choosing = query.intent == "comparison" or _has("choice", text) or _has("all_of_kind", text) \
        or bool(re.search(r"\bbetween\b.+\band\b|在.+和.+之间", text))  # fmt: skip
    paired = bool(compare_kind)  # pays already paired with cities: nothing more to split
    split = _split_sides(text, base, companies) if choosing and not paired else None
    if split and (measure not in ("pay_position", "share", "education") or split[2] == "skills") and not switching:
        first, second, compare_kind = split
        subjects = (first, second)
        intent = "comparison"
        measure = measure if measure in ("count", "salary", "share") else _compare_measure(text)
        if _learning(text) and not _asks_pay(text):
            measure = "count"  # "learn X or Y?": how many postings ask for each
        if compare_kind == "skills":
            measure = "salary" if _asks_pay(text) else "share"  # "要求 PyTorch 的岗位工资比 TensorFlow 的高吗"
    elif not paired and (
        intent == "comparison" or (choosing and not switching and intent in ("advice", "fact") and _two_of(base)[1])
    ):
        subjects, compare_kind = _two_of(base)
        if len(subjects) > 1:
            intent = "comparison"
            measure = measure if measure in ("count", "salary", "share") else _compare_measure(text)
            if compare_kind == "skills":
                measure = "salary" if _asks_pay(text) and not _learning(text) else "share"
            elif _learning(text) and not _asks_pay(text):
                measure = "count"
    strong = _cue("strong_compare").search(text)
    if strong and len(subjects) < 2 and intent in ("figure", "comparison") and not cny and not extra:
        halves = (text[: strong.start()], text[strong.end() :])
        sides = [mentions(x, companies, strict_case=_english(text)) for x in halves]
        if any(not (m.roles or m.skills or m.cities or m.companies) for m in sides):
            # "How do typical IT workers' salaries compare with NLP salaries?": one side is nothing the postings
            # name, so a figure for the other side alone would answer half the question; the articles may say.
            intent, measure = "fact", None
    if intent == "comparison" and len(subjects) < 2:
        intent = "figure"  # nothing left to compare ("AI" and "maths" named together are one population)
    if intent == "figure" and measure in ("share", "count") and _has("unsupported_shape", text) and not placed:
        intent, measure = "fact", None  # "the share in the top 10 cities": a shape of figure the plan has not
    targets: tuple[str, ...] = ()
    target_skills: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    opinion_decline = from_articles = False
    named_targets = False
    named = bool(base.roles or base.skills or base.cities or base.title_terms or base.companies)
    asked = _last_clause(text)
    closing = [p for p in parts if not p.used and p.words and p.words in asked]
    # A topic the data lacks, named in the question's own ask ("…还能落户吗"), is what the answer can't say first.
    parts = [replace(p, asked=True) if p.topic and p in closing else p for p in parts]
    planned = measure in ("education", "top_skills", "share", "pay_position") or intent == "comparison"
    finding = _measure_of(asked) in (None, "count")  # "还好找工作吗": a count cannot speak to age or visas
    if closing and any(p.topic for p in closing) and not placed and finding and not planned \
            and not switching:  # fmt: skip
        # The question's own ask is about what the data lacks ("…有可能落户上海吗"): decline, naming why. A move
        # the asker weighs ("re-skill in AI or build a company") still gets its targets, the lacking part said first.
        intent = "decline"
    elif intent == "advice":
        if switching:
            profile = query.profile or Profile()
            found_cue = (_cue("switch").search(text) or re.search(r"从[^，。,.?？!！]{1,15}?转", text)
                         or re.search(r"转(?=[行型做到向入岗去]?\s*\S)", text)
                         or re.search(r"\bfrom\b", text, re.I))  # fmt: skip
            assert found_cue is not None
            cue = found_cue
            # Roles named before the switching cue are where the asker comes from; after it, where they aim.
            # "pivot from the current position as a Java developer": what follows "from" is where they are.
            rest = text[cue.start() :]
            source = re.search(r"\bfrom\b|从", rest, re.I)
            aim, came = rest, ""
            if source:
                tail = _CLAUSE_END.split(rest[source.end() :])[0]
                to = re.search(r"\b(?:to|into|towards?)\b|到|转", tail)  # "from Embedded SWE to ML expert"
                came = tail[: to.start()] if to else tail
                aim = rest[: source.start()] + (" " + tail[to.end() :] if to else "")
            strict = _english(text)
            before = mentions(text[: cue.start()] + " " + came, companies, strict_case=strict)
            after = mentions(aim, companies, strict_case=strict)
            # A role named on both sides is where they aim ("学习数据分析，并转行数据分析"), not where they are.
            origin = {r for r in before.roles if r not in after.roles} | ({profile.role} - set(after.roles))
            origins = tuple(r for r in [profile.role, *before.roles] if r and r in origin)
            targets = tuple(r for r in after.roles if r not in origin)
            if not after.roles:
                targets = tuple(r for r in query.roles if r not in origin)
            stated = set(profile.skills) | set(mentions(came, companies, strict_case=strict).skills)
            # Skills named before the cue that are not the origin's own ("learning CUDA … a good pivot from Java").
            wanted = after.skills or [x for x in before.skills if vocab.role_family(x) not in origin]
            if after.skills:
                stated |= set(before.skills)
            target_skills = tuple(s for s in wanted if s not in stated and not after.roles)
            target_skills = tuple(s for s in target_skills if s != _AI_SKILL)
            named_targets = bool(targets or target_skills or _cue("ai_jobs").search(aim))  # "re-skill in AI" names AI
            if _cue("strong_compare").search(text) and re.search(r"\bother\b|其他|别的", text, re.I):
                extra.append("baseline")  # "…compared to other software jobs": those jobs beside the targets
            arrows = re.search(r"→|->|=>", text)  # "(backend → ML, or SWE → ML)": moves, not two tracks to choose
            choice = _split_sides(text, base, companies) if _has("choice", aim) and not source and not arrows else None
            if choice is not None:
                # "get into a company: data science or software development?": the two tracks side by side.
                intent, measure, subjects, compare_kind = "comparison", "salary", choice[:2], choice[2]
                targets, target_skills = (), ()
                extra += ["education", "experience"]  # what each track asks of someone entering it
            elif not (after.roles or after.skills) and after.companies:
                # "想进字节": what that company's postings ask for, not a ranking of roles.
                intent, measure = "figure", "top_skills"
                subjects = (base.with_(companies=tuple(after.companies), roles=(), skills=(), title_terms=()),)
                extra += ["experience", "education"]
                targets, target_skills = (), ()
            if intent == "advice" and not targets and not target_skills and _cue("tech_jobs").search(aim):
                # "29 岁转行做程序员": programming roles are the target, named, not the AI roles.
                targets, named_targets = tuple(r for r in TECH_TARGETS if r not in origin), True
            if intent == "advice" and not targets and (not target_skills or _cue("ai_jobs").search(aim)):
                targets = tuple(r for r in AI_TARGETS if r not in origin)
        elif (asked_measure := _measure_of(text)) and asked_measure != "salary":
            intent, measure = "figure", asked_measure  # "where should I look: which cities have the most?"
        else:
            intent = "guidance" if named else "decline"
            measure = "salary"
    elif intent in ("fact", "figure", "guidance") and _has("opinion", text) and not placed and not _measure_cue(text):
        intent, opinion_decline = "decline", True
        opinion = _cue("opinion").search(text)
        assert opinion is not None
        parts.append(Part(opinion.group(0), _say(lang, "opinion"), _say(lang, "opinion_why"), asked=True))
        if _has("career_advice", text):
            intent, from_articles = "fact", True  # "what do seniors suggest to AI-proof a career": what articles advise
    extra_skills = tuple(x for x in query.skills if vocab.role_family(x) not in base.roles and x != _AI_SKILL)
    which = re.search(r"\b(?:which|what)\s+(?:languages?|frameworks?|stack|skills)|哪门|什么语言|什么框架|哪个框架",
                      text, re.I)  # fmt: skip
    if base.roles and extra_skills and not which:
        needs_skills = False  # "must a PM know Python": one named skill's share, below
    needs_skills = needs_skills and "top_skills" not in extra
    if intent in ("fact", "guidance", "figure") and needs_skills and (named or (query.profile and query.profile.role)):
        # "我是AI产品经理，必须掌握AI技术吗": the skills the postings of that role list.
        if not named and query.profile and query.profile.role:
            subjects = (base.with_(roles=(query.profile.role,)),)
        intent, measure = "figure", "top_skills"
        several = len(subjects) == 1 and 2 <= len(subjects[0].roles) <= 3
        if several and subjects[0].roles not in (AI_FAMILIES, TECH_FAMILIES):
            subjects = tuple(subjects[0].with_(roles=(r,)) for r in subjects[0].roles)  # each role's own skills
    elif intent == "fact" and _has("should", text) and named and not from_articles:
        intent, measure = "guidance", "salary"
    # "Will I be able to get a job": a question about the asker, not a forecast.
    forecast = next((f for f in _cue("prediction").finditer(text)
                     if not re.match(r"\s*(?:i|we|you)\b", text[f.end() :], re.I)), None)  # fmt: skip
    forecast_intents = ("fact", "comparison", "figure", "guidance", *(("decline",) if opinion_decline else ()))
    if forecast and named and intent in forecast_intents and not placed:
        # What the data can say about a forecast: how demand moved, for each thing named ("will LLMs replace
        # programmers": LLM roles and the engineering roles alike).
        if tech_beside and base.roles != TECH_FAMILIES:
            subjects = (*subjects, base.with_(roles=TECH_FAMILIES, skills=()))
        intent, measure, hit = "trend", None, forecast
        parts.append(Part(hit.group(0).strip(), _say(lang, "forecast"), _say(lang, "forecast_why")))
    if intent == "trend" and not forecast and len(subjects) == 1:
        # "LLM jobs and tech jobs over the years", "北京和上海的大模型岗位这几年": one trend per population named,
        # not one pooled trend (nor a second population said to be read and then left out).
        if tech_beside and base.roles != TECH_FAMILIES:
            subjects = (base, base.with_(roles=TECH_FAMILIES, skills=()))
        else:
            subjects, compare_kind = _two_of(base)
    if (intent in ("fact", "figure", "guidance") and _has("requirement", asked) and base.roles and extra_skills
            and measure not in ("education", "pay_position", "top_skills")):  # fmt: skip
        # "人工智能真的需要大量数学么": the share of that role's postings that list the skill.
        subjects, intent, measure, compare_kind = (base.with_(skills=extra_skills),), "figure", "share", "skill_in_role"
    if intent == "guidance" and _asks_pay(text):
        intent, measure = "figure", "salary"  # "what salary should I be earning": a pay question, not a decision
    if intent == "guidance":
        measure = measure if measure in ("education", "pay_position", "share") else "salary"
    if measure == "education" and tech_beside and len(subjects) == 1 and subjects[0].roles != TECH_FAMILIES:
        # "a CS degree to become a developer, or to get an ML job": the degrees both populations ask for.
        subjects = (subjects[0], subjects[0].with_(roles=TECH_FAMILIES, skills=()))
    seniority = _cue("seniority_pay").search(text)
    if seniority and not placed and intent not in ("advice", "decline", "out_of_scope"):
        # "算法工程师是不是越老越吃香": median pay per experience asked, not pay by calendar year.
        intent, measure, rank_by = "figure", "top_experience", "salary"
        subjects = tuple(s.with_(experience_years=None) for s in subjects[:1])
        own = asker.experience.words if asker.experience else None
        parts = [p for p in parts if p.words != own]
        if own:  # "工作十年后还涨吗": one row of the ranking, not a filter
            parts.append(Part(own, _say(lang, "ranking_row")))
        for hit in _BAND_TEXT.finditer(text):
            if hit.group(0).strip() != own and int(hit.group(1)) <= 40:
                parts.append(Part(hit.group(0).strip(), _say(lang, "ranking_row")))
        parts.append(Part(seniority.group(0), _say(lang, "seniority")))
    levels_named = [f.value for f in degree_mentions(text)]
    levels_named = list(dict.fromkeys(levels_named))
    differ = re.search(r"差别|区别|差距|差多少|difference|differ", text, re.I)
    if len(levels_named) >= 2 and (_asks_pay(text) or differ) and not placed and len(subjects) == 1 \
            and intent != "advice":  # fmt: skip
        # "本科和硕士做后端，工资差多少": the pay of postings asking each degree, side by side.
        subjects = tuple(subjects[0].with_(education=(level,)) for level in levels_named[:3])
        intent, measure, compare_kind = "comparison", "salary", "education"
        parts.append(Part(_degree_words(text), _say(lang, "education")))
    elif (asker.degree and _has("can_i", text) and not placed and intent not in ("advice", "decline")
          and any(s.roles or s.title_terms or s.skills for s in subjects) and not _asks_pay(text)):  # fmt: skip
        # "专科能做算法岗吗": the degrees the postings ask, and the share open to the asker's.
        intent, measure = "figure", "education"
        subjects = tuple(s.with_(education=()) for s in subjects)
        extra.append("open_to")
    if (intent == "comparison" and _learning(text) and len(query.skills) >= 2 and query.roles
            and any(s.roles and not s.skills for s in subjects)):  # fmt: skip
        # "learn C++ or Go to work on AI infrastructure": each skill's share within that role's postings.
        within = tuple(r for r in query.roles)
        learnt = [x for x in query.skills if x != _AI_SKILL and vocab.role_family(x) not in within]
        if len(learnt) >= 2:
            subjects = tuple(Filters(roles=within, years=base.years, cities=base.cities).with_(skills=(x,))
                             for x in learnt[:3])  # fmt: skip
            measure, compare_kind = "share", "skill_in_role"
    if (measure == "pay_position" and len(subjects) == 1 and 2 <= len(subjects[0].cities) <= 4 and len(placed) == 1
            and not _has("equivalent", text)):  # fmt: skip
        subjects = tuple(subjects[0].with_(cities=(c,)) for c in subjects[0].cities)  # the pay placed in each city
    if (intent == "figure" and measure in ("salary", "count") and len(subjects) == 1
            and 2 <= len(subjects[0].cities) <= 4 and not placed):  # fmt: skip
        intent, compare_kind = "comparison", "cities"  # "离开北京回长沙，薪资会掉多少": each city, side by side
        subjects = tuple(subjects[0].with_(cities=(c,)) for c in subjects[0].cities)
    bands = _experience_points(text, graduate)
    if len(bands) == 2 and _asks_pay(text) and not placed and len(subjects) == 1 and intent != "advice":
        # "应届和五年经验的工资差多少", "5+ years compared with 1-3 years": the two bands side by side.
        subjects = tuple(subjects[0].with_(experience_years=b) for b, _ in bands)
        intent, measure, compare_kind = "comparison", "salary", "experience_years"
        said = {w for w, _ in bands}
        own_words = asker.experience.words if asker.experience else None
        parts = [p for p in parts if p.words not in said and p.words != own_words]
        for (low, high), words in bands:
            band = _say(lang, "band_top", low=low) if high >= 99 else _say(lang, "band", low=low, high=high)
            parts.append(Part(words, _say(lang, "graduate") if (low, high) == (0, 0) else band))
    worth = _cue("skill_worth").search(text)
    if worth and _learning(text) and query.skills and not placed and intent not in ("decline", "out_of_scope",
                                                                                  "advice"):  # fmt: skip
        # "大模型成熟了，学传统 NLP 还有价值吗": the share of AI postings (the LLM ones too) that still list the skill.
        learnt = [x for x in query.skills if x != _AI_SKILL]
        learnt = learnt[-1:] if len(learnt) > 1 else learnt  # the skill asked about is named last, after the context
        if learnt:
            family = vocab.role_family(learnt[0])
            others = [r for r in query.roles if r != family]  # "大模型成熟了": within the LLM postings too
            subjects = tuple(Filters(roles=roles, years=base.years, cities=base.cities, skills=tuple(learnt))
                             for roles in (AI_FAMILIES, *((r,) for r in others[:2])))  # fmt: skip
            intent, measure, compare_kind = "figure", "share", "skill_in_role"
            parts.append(Part(worth.group(0), _say(lang, "skill_worth")))
    track = _cue("track").search(text)
    if track and not placed and intent not in ("decline", "out_of_scope"):
        # "data science, algorithm design, web development or security: which track should I follow?": the named
        # tracks side by side (not the asker's current role), each with the pay and what it asks.
        current = query.profile.role if query.profile else None
        tracks: list[Filters] = []
        alias = _title_alias(text)
        if alias:
            tracks.append(Filters(title_terms=alias[1]))
        for _, _, family in role_spans(text):
            if family != current and Filters(roles=(family,)) not in tracks:
                tracks.append(Filters(roles=(family,)))
        if len(tracks) >= max(2, len(subjects) + 1) or (len(tracks) >= 2 and len(subjects) < 2):
            keep = subjects[0] if subjects else base
            subjects = tuple(t.with_(cities=keep.cities, experience_years=keep.experience_years) for t in tracks[:4])
            intent, measure, compare_kind = "comparison", "salary", "roles"
            extra += [m for m in ("experience", "education") if m not in extra]
            titles = {t for s in subjects for t in s.title_terms}
            parts = [p for p in parts if not p.term or p.term in titles]  # a title read before is no track here
            parts.append(Part(track.group(0), _say(lang, "tracks")))
    veteran = _cue("veteran").search(text)
    if (veteran and asker.experience is None and measure in ("salary", "pay_position") and len(subjects) == 1
            and subjects[0].experience_years is None):  # fmt: skip
        # "一个老 ios 程序员只拿到 22k": postings asking 5 or more years, the seniority said as read.
        subjects = (subjects[0].with_(experience_years=(5, 99)),)
        parts.append(Part(veteran.group(0), _say(lang, "band_top", low=5)))
    pay_asked = measure in ("salary", "pay_position") and intent in ("figure", "guidance")
    profile_role = query.profile.role if query.profile and query.profile.role != "other" else None
    if query.profile is not None and profile_role is None:
        # "4 years of Go backend work": a role named in the asker's own words, when the title read none.
        profile_role = next((family for _, _, family in role_spans(text)), None)
    if pay_asked and profile_role and not switching and not any(
        s.roles or s.skills or s.title_terms or s.companies for s in subjects
    ):
        # "3 years in, what should I earn as a data engineer": the asker's own role is the population.
        subjects = tuple(s.with_(roles=(profile_role,)) for s in subjects)
        words = next((text[a:b] for a, b, family in role_spans(text) if family == profile_role), "")
        parts.append(Part(words or vocab.role_label(profile_role, lang), vocab.role_label(profile_role, lang)))
    if pay_asked and asker.degree and not degree_asked and not any(s.education for s in subjects):
        # "应届本科薪资多少": the asker's own degree is their cohort: postings asking for that degree.
        level = asker.degree.value
        subjects = tuple(s.with_(education=(level,)) for s in subjects)
        extra = [m for m in extra if m != "education"]
        parts.append(Part(asker.degree.words, _say(lang, "degree_cohort", level=_LEVEL_WORDS[lang][level])))
    if pay_asked and asker.experience and experience and not any(s.experience_years for s in subjects):
        subjects = tuple(s.with_(experience_years=experience) for s in subjects)
        low, high = experience
        band = _say(lang, "band_top", low=low) if high >= 99 else _say(lang, "band", low=low, high=high)
        parts = [p for p in parts if p.words != asker.experience.words] + [Part(asker.experience.words, band)]
    difficulty = _cue("difficulty").search(text)
    if difficulty and not placed:
        # "坐标深圳找 Java 开发都那么难的吗": no figure measures a search; say so, then the openings and what they ask.
        reason = _data()["plan"]["difficulty"]["reason"][lang]
        parts.append(Part(difficulty.group(0), _say(lang, "difficulty"), reason, asked=True))
        named_population = any(s != Filters() for s in subjects)
        countable = measure in (None, "count", "salary")
        if intent in ("figure", "guidance", "decline", "fact") and named_population and countable:
            intent, measure = "figure", "count"
            extra += [m for m in ("salary", "experience", "education") if m not in extra]
    equal = _cue("equivalent").search(text)
    if equal and len(placed) == 1 and not switching:
        home = [p.name for p in vocab.find_places(text[: equal.start()]) if p.known]
        home += [c for _, _, cs in city_groups(text[: equal.start()]) for c in cs]
        away = [c for c in subjects[0].cities if c not in home] if subjects else []
        if home and away:
            # "长沙拿 7.5k，相当于在北上广拿多少": its position among home postings, the pay at that position elsewhere.
            first = subjects[0].with_(cities=tuple(dict.fromkeys(home)))
            subjects = (first, *(first.with_(cities=(c,)) for c in away))
            intent, measure, compare_kind = "figure", "pay_equivalent", "cities"
            parts.append(Part(equal.group(0), _say(lang, "equivalent")))
    depth = _cue("depth").search(text)
    if depth and not placed and intent not in ("decline", "out_of_scope", "advice"):
        # "can I avoid learning all the maths?", "需要大量前沿数学么": no figure says how deep a skill goes; said first,
        # then what the named roles' postings ask.
        parts.append(Part(depth.group(0), _say(lang, "depth"), _data()["plan"]["depth"]["reason"][lang], asked=True))
        roles = list(dict.fromkeys(r for s in subjects for r in s.roles))
        if roles:
            groups = [tuple(roles)] if len(roles) > 3 else [(r,) for r in roles]  # "AI" stays one population
            subjects = tuple(Filters(roles=g, years=base.years, cities=base.cities) for g in groups)
            intent, measure, compare_kind = "figure", "top_skills", ""
    for name in ("competition", "learning_path"):
        # "卷算法岗还是…", "is data science over-saturated", "what did your learning path look like": what no figure
        # measures, said first; the figures that bear on it follow.
        hit = _cue(name).search(text)
        if hit and not placed and intent not in ("decline", "out_of_scope"):
            parts.append(Part(hit.group(0), _say(lang, name), _data()["plan"][name]["reason"][lang], asked=True))
            if name == "learning_path" and intent in ("advice", "fact", "guidance", "figure", "comparison"):
                extra += ["target_skills", "experience"]  # what the jobs ask, and how many take beginners
    ability = _cue("ability").search(text)
    if ability and intent in ("figure", "guidance", "comparison"):
        # "10 万和 50 万的程序员能力差在哪", "我这水平值多少": ability is not in postings; what they ask is.
        parts.append(Part(ability.group(0), _say(lang, "ability"), _data()["plan"]["ability"]["reason"][lang],
                          asked=True))  # fmt: skip
        if placed and "level" not in extra:
            extra.append("level")
    if _cue("barrier").search(text) and intent in ("figure", "guidance", "comparison") and not placed:
        extra += ["education", "experience"]  # "图形学门槛高吗": the degree and experience the postings ask
        if intent == "figure" and measure == "top_skills" and _asks_pay(text):
            extra.append("salary")  # "门槛高、高薪": the pay too
    feasible = _cue("feasibility").search(text)
    if feasible and not placed and not difficulty and intent in ("advice", "guidance", "figure", "comparison", "fact"):
        # "从后端转产品经理可行吗": no figure says whether it will work; said first, then what the target asks.
        reason = _data()["plan"]["feasibility"]["reason"][lang]
        parts.append(Part(feasible.group(0), _say(lang, "feasibility"), reason, asked=True))
        if intent == "advice":
            extra.append("target_asks")
    if asker.experience is None and graduate and (difficulty or _has("can_i", text) or switching):
        # "2023 届…还能转行做产品经理吗": a new graduate has no years of experience to offer.
        asker = replace(asker, experience=Fact(graduate.group(0), graduate.start(), graduate.end(), 0.0))
    if (difficulty or _has("can_i", text) or switching) and (asker.degree or asker.experience) and not placed:
        extra.append("open_to")  # the share of the postings that would take the asker's degree and experience
        why = _say(lang, "experience_why")
        parts = [Part(p.words, _say(lang, "open_to")) if p.reason == why else p for p in parts]
    personal = query.profile is not None or switching or bool(asker.facts())
    named_job = any(s.roles or s.skills or s.title_terms for s in subjects)
    if intent == "decline" and personal and named_job and not placed:
        # "35 岁、二本，做开发还能…": the part the data lacks is said first, then the figures for the asker's cohort.
        intent, measure = "guidance", "salary"
        extra += ["experience", "education"]
        parts = [replace(p, asked=True) if p.topic else p for p in parts]
    if any(p.topic and p.meaning == "age" for p in parts) and intent in ("figure", "guidance") and not placed:
        extra.append("experience")  # "35 岁程序员": the experience the postings ask, seniors' openings among them
    if intent in ("figure", "guidance") and subjects == (Filters(),) and any(p.topic for p in parts) and not placed:
        intent = "decline"  # a count of every posting answers nothing about Mandarin, age or visas
    if not subjects and intent in ("figure", "comparison", "trend", "guidance"):
        subjects = (base,)  # every rule above keeps a population; this one guards the figures against none
    plan = Plan(
        query=query, intent=intent, measure=measure, subjects=subjects, rank_by=rank_by, pays=tuple(placed),
        parts=tuple(parts), period=period, extra_measures=tuple(dict.fromkeys(extra)), targets=targets,
        target_skills=target_skills, compare_kind=compare_kind, targets_named=named_targets, asker=asker,
        origins=tuple(dict.fromkeys(origins)), yearly=tuple(packages),
    )  # fmt: skip
    return with_accounting(plan, companies)


def _last_clause(text: str) -> str:
    """The question's own ask: its last clause ("…，在深圳还能找得到开发的工作吗" -> "在深圳还能找得到开发的工作吗")."""
    clauses = [c for c in re.split(r"[,，。.;；!！?？\n]+", text) if c.strip()]
    return clauses[-1] if clauses else text


def _measure_of(text: str) -> str | None:
    return next((m for m in _data()["measures"] if _cue_measure(m).search(text)), None)


def _measure_cue(text: str) -> bool:
    return any(_cue_measure(m).search(text) for m in _data()["measures"])


@cache
def _cue_measure(name: str) -> re.Pattern[str]:
    return vocab.alias_pattern(_data()["measures"][name])


_WHAT_MAKE = re.compile(r"\b(?:what|how much)\s+(?:do|does|can|would|will|could)\b[^?.]*\bmake\b", re.I)


_LEARN_ZH = re.compile(r"(?<![机器深度强化数])学(?![历校生位])")


def _learning(text: str) -> bool:
    """Asks what to learn ("learn Go or Rust", "学 Go 还是学 Rust"), not "machine learning" or "数学"."""
    return _has("learn", text) or bool(_LEARN_ZH.search(text))


def _asks_pay(text: str) -> bool:
    return bool(_has("salary_asked", text) or _WHAT_MAKE.search(text)
                or re.search(r"salary|pay\b|\bearn|薪|工资|值多少|挣多少", text, re.I))  # fmt: skip


def _compare_measure(text: str) -> str:
    return "count" if _data()["comparison_count"] and vocab.alias_pattern(_data()["comparison_count"]).search(text) \
        else "salary"  # fmt: skip


_CARRIED = ("pay_min", "pay_max", "education", "experience_years", "title_terms")


def follow(plan: Plan, previous: Plan) -> Plan:
    """A follow-up ("and for CV?", "上海呢？") keeps what the last question asked beyond its entities: a ranking by
    pay, pay bounds, education, experience and title words, and its measure when the follow-up names none."""
    if not plan.query.followup or previous.intent in ("out_of_scope", "decline"):
        return plan
    own_measure = _measure_of(plan.text)
    measure = plan.measure if own_measure else previous.measure or plan.measure
    intent = plan.intent
    if not own_measure and previous.intent in ("figure", "comparison") and plan.intent != "comparison":
        intent = previous.intent  # "和上海比呢" joins the last question: a comparison stays one
    if measure == "share" and intent == "comparison" and len(plan.subjects) < 2:
        intent = "figure"
    carried = {k: getattr(previous.subjects[0], k) for k in _CARRIED} if previous.subjects else {}
    subjects = tuple(s.with_(**{k: v for k, v in carried.items() if v and not getattr(s, k)}) for s in plan.subjects)
    rank_by = plan.rank_by if own_measure else previous.rank_by
    return replace(plan, intent=intent, measure=measure, subjects=subjects, rank_by=rank_by,
                   pays=plan.pays or (previous.pays if measure == "pay_position" else ()))  # fmt: skip


def with_period(plan: Plan, year: int) -> Plan:
    """The plan with its relative period ("this year") resolved to a year of the data."""
    return replace(plan, subjects=tuple(s.with_(years=(year,)) for s in plan.subjects))
