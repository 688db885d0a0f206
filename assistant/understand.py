"""Question understanding: what a tech worker asks, in English or Chinese, as a plain `Query`.

Pure and stdlib only. Every word list is data: `data/intents.json` (cue words, question-side role
aliases, sources), `data/places.json` (places we have no postings for) and the vocabularies of `vocab`.
Decisions worth knowing before reading the code:

* A term that is both a skill and a role family (NLP, machine learning, LLM, CV) goes to `roles` (the
  family) and to `skills`; the figure engine filters by roles first.
* A stated profile ("I'm a Java developer in Shanghai on 15k") describes the asker, not what they ask
  about: its entities go to `Profile`, and `roles`/`skills` keep only the targets ("move into ML"). The
  profile's city is the default `cities` filter when the question names none.
* Intent precedence: out_of_scope, advice, fact (why / news / shortage), comparison by cue (vs, 对比)
  with two of a kind, trend, comparison by two cities/roles/companies, figure, fact (domain words only).
* `measure` is set for figure and comparison only; rankings (top_*) win over salary, salary over count.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from itertools import takewhile
from pathlib import Path
from typing import Any

from assistant import vocab
from assistant.money import chinese_number, to_monthly

INTENTS = ("figure", "comparison", "trend", "fact", "advice", "out_of_scope")
MEASURES = ("count", "salary", "share", "top_cities", "top_companies", "top_skills", "top_titles")
_COMPARABLE = ("count", "salary", "share")
_ASKS = ("advice", "fact", "trend", "comparison", *(f"measures.{m}" for m in MEASURES))

_DATA = Path(__file__).parent / "data"
_CJK = re.compile(r"[\u3400-\u9fff]")
# Commas and dots inside numbers ("1.5万", "15,000") do not end a clause.
_CLAUSE = re.compile(r"[，。；;!！?？\n]|,(?!\d)|\.(?!\d)|\s[-–—]+\s|—+")
_YEAR = re.compile(r"(?<![\d.$¥])((?:19[89]|20[0-4])\d)(?!\d|\.\d)(?!\s*(?:[kK千万元块]|rmb|cny|yuan))", re.I)
_TITLE_EN = re.compile(
    r"\b(?:i'm|i am|i've been|i have been|i work as)\s+(?:currently\s+|now\s+|working\s+as\s+)?an?\s+(.+)", re.I
)
_TITLE_ZH = re.compile(
    r"(?:我是|本人是|我(?:目前|现在)是)(?:一名|一个|一位|名|个)?(.+)|(?:我|^|\s)(?:目前|现在)?(?:在[^,，做从干当\s]*?)?(?:做|从事|干|当)(.+)"
)
_HEAD_GAP = re.compile(r"[\s的/\-]*")
_MONEY = re.compile(
    r"(?P<cur>[$¥]\s*)?(?P<num>\d+(?:\.\d+)?\s*(?:[kKwW](?![A-Za-z])|[千万])(?:\d(?!\d)|[一二两三四五六七八九])?"
    r"|[一二两三四五六七八九十][零一二两三四五六七八九十百千万]*[千万][一二两三四五六七八九]?"
    r"|\d{3,7}(?:\.\d+)?)(?!\d|\.\d)(?:\s*(?P<unit>元|块|rmb|cny|yuan|usd|dollars?))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Profile:
    """The asker as they describe themselves; every field optional."""

    title: str | None = None
    role: str | None = None
    skills: tuple[str, ...] = ()
    city: str | None = None
    monthly_pay: float | None = None


@dataclass(frozen=True)
class Query:
    """A question understood: language, intent, measure, filters, and a stated profile."""

    text: str
    language: str
    intent: str
    measure: str | None
    cities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    unknown_places: tuple[str, ...] = ()
    profile: Profile | None = None
    followup: bool = False


@dataclass
class _Mentions:
    cities: list[str] = field(default_factory=list)
    unknown_places: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    def two_of_a_kind(self) -> bool:
        # Skills count only without roles: "Java backend" is one role with two skills, "Python和Java" two skills.
        kinds = (self.cities + self.unknown_places, self.roles, self.companies, self.sources, self.roles or self.skills)
        return max(map(len, kinds)) >= 2


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    with open(_DATA / "intents.json", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _words(node: Any) -> list[str]:
    """Every word of a list or of a nested table of lists ("_comment" keys skipped)."""
    if isinstance(node, dict):
        return [w for key, value in node.items() if not key.startswith("_") for w in _words(value)]
    return list(node) if isinstance(node, list) else []


@cache
def _cue(name: str) -> re.Pattern[str]:
    """The pattern of a word list of intents.json by dotted path ("advice", "profile.cut", "roles")."""
    node = _data()
    for part in name.split("."):
        node = node[part]
    return vocab.alias_pattern(_words(node))


@cache
def _table(name: str) -> dict[str, Any]:
    """alias_key -> value: "roles" gives (family, generic), "sources" the source name."""
    if name == "sources":
        return {vocab.alias_key(a): src for src, aliases in _data()["sources"].items() for a in aliases}
    roles = _data()["roles"]
    kinds = ((False, roles["specific"]), (True, roles["generic"]))
    return {
        vocab.alias_key(a): (f, generic) for generic, table in kinds for f, aliases in table.items() for a in aliases
    }


@lru_cache(maxsize=8)
def _company_matcher(companies: tuple[str, ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    # Company names come from data anyone may upload, so only whole, distinctive names match: a Latin name of
    # three letters or more that is not an ordinary word, a Chinese name of three characters or more, or a
    # well-known short name from the alias table. A name that is also a city, role or skill word never does,
    # so rows from a company called "in", "AI" or "数据" cannot change how other questions are read.
    known = _data()["company_aliases"]
    names = [c.strip() for c in companies if c.strip() and (c.strip() in known or _distinctive(c.strip()))]
    aliases = {c: c for c in names}
    for name in names:
        aliases |= {a: name for a in known.get(name, ())}
    return vocab.alias_pattern(aliases), {vocab.alias_key(a): name for a, name in aliases.items()}


def _distinctive(name: str) -> bool:
    if _CJK.search(name):
        if len(name) < 3:
            return False
    elif len(re.sub(r"[^A-Za-z0-9]", "", name)) < 3 or name.lower() in _ordinary_words():
        return False
    # A whole name that is a vocabulary word is no company ("Python", "北京", "NLP"); "Qilin Robotics" is one.
    key = vocab.alias_key(name)
    skill = any(key in {vocab.alias_key(a) for a in vocab.skill_aliases(x)} | {vocab.alias_key(x)}
                for x in vocab.find_skills(name))  # fmt: skip
    place = vocab.canonical_city(name) is not None
    return not (skill or place or _cue("roles").fullmatch(name) or _cue("job_domain").fullmatch(name))


@cache
def _ordinary_words() -> frozenset[str]:
    return frozenset(w.lower() for w in _data()["ordinary_words"])


def detect_language(text: str) -> str:
    """Language of a question: "zh" when Chinese ideographs are at least 30% of its letters, else "en"."""
    cjk, latin = len(_CJK.findall(text)), len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk >= 0.3 * (cjk + latin) else "en"


@cache
def _city_group_table() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    groups = {k: tuple(v) for k, v in _data()["city_groups"].items() if not k.startswith("_")}
    return vocab.alias_pattern(groups), {vocab.alias_key(k): v for k, v in groups.items()}


def city_groups(text: str) -> list[tuple[str, tuple[int, int], tuple[str, ...]]]:
    """City groups named in a text ("北上广", "一线城市"): their words, span and cities."""
    pattern, table = _city_group_table()
    return [(hit.group(0), hit.span(), table[vocab.alias_key(hit.group(0))]) for hit in pattern.finditer(text)]


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with spans replaced by spaces, so positions stay valid for later matching."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _add(items: list[Any], item: Any) -> None:
    if item not in items:
        items.append(item)


def mentions(text: str, companies: tuple[str, ...], strict_case: bool) -> _Mentions:
    """Entities named in a text: cities, unknown places, role families, skills, companies, years, boards."""
    found = _Mentions()
    work = _blank(text, (m.span() for m in _cue("not_entities").finditer(text)))
    # Board names first: "智联招聘" names the source Zhaopin even when a company of that name posts jobs.
    board_hits = list(_cue("sources").finditer(work))
    for hit in board_hits:
        _add(found.sources, _table("sources")[vocab.alias_key(hit.group(0))])
        found.spans.append(hit.span())
    work = _blank(work, (h.span() for h in board_hits))
    matcher, lookup = _company_matcher(companies)
    hits = list(matcher.finditer(work))
    for hit in hits:
        _add(found.companies, lookup[vocab.alias_key(hit.group(0))])
    found.spans += [h.span() for h in hits]
    work = _blank(work, (h.span() for h in hits))  # "北京字节跳动" names a company, not a city filter
    for _, span, cities in city_groups(work):
        for city in cities:  # "北上广", "一线城市": the cities the group names, each a filter of its own
            _add(found.cities, city)
        found.spans.append(span)
    work = _blank(work, (s for s in found.spans))
    for place in vocab.find_places(work):
        _add(found.cities if place.known else found.unknown_places, place.name)
        found.spans.append((place.start, place.end))
    last_end, last_generic = -1, True
    for hit in _cue("roles").finditer(work):
        family, generic = _table("roles")[vocab.alias_key(hit.group(0))]
        # "NLP算法工程师": the generic head right after a specific role is that role's head, not a second role.
        if generic and not last_generic and _HEAD_GAP.fullmatch(work[last_end : hit.start()]):
            continue
        _add(found.roles, family)
        found.spans.append(hit.span())
        last_end, last_generic = hit.end(), generic
    for hit in _YEAR.finditer(work):
        _add(found.years, int(hit.group(1)))
        found.spans.append(hit.span())
    if strict_case:
        # In English prose "go", "rust" or "excel" in lower case are words; the skills are written Go, Rust, Excel.
        work = re.sub(rf"(?<![A-Za-z])(?:{'|'.join(_data()['lowercase_words'])})(?![A-Za-z+#])", " ", work)
    found.skills = list(vocab.find_skills(work))
    return found


def role_spans(text: str) -> list[tuple[int, int, str]]:
    """Where a role family is named in a text, as (start, end, family); a generic head right after a specific
    role ("NLP算法工程师") is part of that role."""
    found: list[tuple[int, int, str]] = []
    last_end, last_generic = -1, True
    for hit in _cue("roles").finditer(text):
        family, generic = _table("roles")[vocab.alias_key(hit.group(0))]
        if generic and not last_generic and _HEAD_GAP.fullmatch(text[last_end : hit.start()]):
            start = found[-1][0]
            found[-1] = (start, hit.end(), found[-1][2])
            last_end = hit.end()
            continue
        found.append((hit.start(), hit.end(), family))
        last_end, last_generic = hit.end(), generic
    return found


def _profile_spans(text: str) -> list[tuple[int, int]]:
    """Spans where the asker describes themselves: from a profile cue ("I'm a", "我在") to the end of its clause
    or to a cue of what they want ("想", "how"), the clauses that go on describing ("，在杭州做前端"), and clauses
    with only a pay amount ("月薪1.5万") once a profile is stated."""
    bounds = [0, *(m.end() for m in _CLAUSE.finditer(text)), len(text)]
    spans: list[tuple[int, int]] = []
    going_on = False
    for start, end in zip(bounds, bounds[1:], strict=False):
        cue = _cue("profile.cues").search(text, start, end)
        cut = _cue("profile.cut").search(text, cue.end() if cue else start, end)
        asks = any(_cue(name).search(text, start, end) for name in _ASKS)
        pay = cut is None and _monthly_pay(text[start:end]) is not None
        if cue or (going_on and cut is None and not asks) or (spans and pay):
            spans.append((cue.start() if cue else start, cut.start() if cut else end))
        going_on = bool(cue or going_on) and cut is None
    return spans


def _title(part: str) -> str | None:
    if en := _TITLE_EN.search(part):
        stop = _data()["profile"]["title_stop"]
        words = takewhile(lambda word: word.lower().strip(",.") not in stop, en.group(1).split())
        return " ".join(words).strip(" ,.") or None
    zh = _TITLE_ZH.search(part)
    if not zh:
        return None
    # Cut at the pay or a place that follows ("Java后端月薪1.5万", "算法工程师在深圳"); drop places written
    # before the title ("上海的Java后端").
    head = re.split(r"[月年日]薪|工资|收入|薪资|\d|\s在|,|，", zh.group(1) or zh.group(2))[0]
    head = _blank(head, ((p.start, p.end) for p in vocab.find_places(head))).replace(" ", "")
    return re.sub(r"^(?:的|做|从事)+|(?:的|工作|方向)+$", "", head).strip() or None


def _profile(part: str, companies: tuple[str, ...]) -> Profile | None:
    if not part.strip():
        return None
    found = mentions(part, companies, strict_case=False)
    title = _title(part)
    role = vocab.role_family(title) if title else (found.roles[0] if found.roles else None)
    skills = tuple(s for s in found.skills if s not in _data()["profile"]["role_restating_skills"])
    profile = Profile(title, role, skills, found.cities[0] if found.cities else None, _monthly_pay(part))
    return profile if profile != Profile() else None


def stated_pay(text: str) -> float | None:
    """A pay box's content ("15000", "15k", "1.5万", "2w", "20万/年") in CNY per month: exactly one amount,
    where a bare number counts as pay; None when it is not one plausible amount."""
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)
    if len(_MONEY.findall(text)) != 1:
        return None
    return _monthly_pay(text, bare_is_pay=True)


def _monthly_pay(text: str, bare_is_pay: bool = False) -> float | None:
    """The first pay amount in the text, in CNY per month; None when none or in another currency."""
    for hit in _MONEY.finditer(text):
        cur, unit, raw = hit.group("cur") or "", (hit.group("unit") or "").lower(), hit.group("num")
        if "$" in cur or unit.startswith(("usd", "dollar")):
            return None  # no exchange rate in the data: better no figure than a guessed one
        before = _CLAUSE.split(text[max(0, hit.start() - 10) : hit.start()])[-1]
        after = _CLAUSE.split(text[hit.end() :], maxsplit=1)[0][:16]
        if not (bare_is_pay or re.search(r"[kKwW千万]", raw) or cur or unit or _cue("pay.context").search(before)):
            continue  # a bare number ("2017", "3") is not pay
        periods = [p for where in (after, before) for p in ("month", "year", "day") if _cue(f"pay.{p}").search(where)]
        value = to_monthly(chinese_number(raw), (periods or ["month"])[0])
        if 1000 <= value <= 1_000_000:
            return round(value, 2)
    return None


def _measure(text: str) -> str | None:
    return next((m for m in _data()["measures"] if _cue(f"measures.{m}").search(text)), None)


def _comparison_measure(text: str) -> str:
    """share or count when asked ("more jobs", "岗位多"), else salary, the usual point of comparing."""
    measure = _measure(text)
    if measure is not None and measure in _COMPARABLE:
        return measure
    return "count" if _cue("comparison_count").search(text) else "salary"


def _intent(ask: str, found: _Mentions, profile: Profile | None) -> str:
    job = bool(_cue("job_domain").search(ask))
    if _cue("out_of_scope").search(ask) and not job:
        return "out_of_scope"
    named = found.cities or found.roles or found.skills or found.companies or found.sources
    if not (job or named or profile or _cue("fact_topics").search(ask)):
        return "out_of_scope"
    if _cue("advice").search(ask):
        return "advice"
    if _cue("fact").search(ask):
        return "fact"
    years = len(found.years) >= 2
    if _cue("comparison").search(ask) and (found.two_of_a_kind() or years):
        return "comparison"
    if _cue("trend").search(ask) or years:
        return "trend"
    measure = _measure(ask)
    # "深圳和广州哪里…更多": "where" between two named cities asks which of the two, not for a ranking.
    if found.two_of_a_kind() and (measure in (None, *_COMPARABLE) or (measure == "top_cities" and
                                                                       len(found.cities) >= 2)):  # fmt: skip
        return "comparison"
    return "figure" if measure else "fact"


def _is_followup(text: str, found: _Mentions) -> bool:
    """Short, no ask of its own beyond a measure or trend word, and shaped like a follow-up."""
    stripped = text.strip()
    if len(re.findall(r"[A-Za-z0-9]+", text)) + len(_CJK.findall(text)) / 2 > 8:
        return False
    if any(_cue(c).search(text) for c in ("advice", "fact", "out_of_scope")):
        return False
    start = _cue("followup.start").match(stripped)
    end = stripped.rstrip(" ?!.。").endswith(tuple(_data()["followup"]["end"]))
    rest = _blank(text, found.spans)
    rest = _blank(rest, (m.span() for m in _cue("followup.filler").finditer(rest)))
    only_entities = not re.sub(r"[\W_]+", "", rest)
    named = bool(found.spans) or bool(_measure(text)) or bool(_cue("trend").search(text))
    return named and bool(start or end or only_entities)


_KINDS = ("cities", "unknown_places", "roles", "skills", "companies", "years", "sources")


def _inherit(question: str, text: str, found: _Mentions, previous: Query, profile: Profile | None) -> Query:
    """Previous filters, with each kind of entity the follow-up names replaced by the new ones."""
    prev, merged = previous, _Mentions()
    # "和上海比呢", "compared with Shanghai?": the named entities join the previous ones instead of replacing them.
    join = bool(_cue("followup.compare").search(text)) or text.rstrip(" ?!").endswith("比")
    for kind in _KINDS:
        old, new = list(getattr(prev, kind)), getattr(found, kind)
        setattr(merged, kind, list(dict.fromkeys(old + new)) if join else new or old)
    if not join and (found.cities or found.unknown_places):  # places are one kind: Paris replaces Beijing
        merged.cities, merged.unknown_places = found.cities, found.unknown_places
    if not join and found.roles and not found.skills:
        # The old role's own skill goes with it: after "NLP jobs", "and for CV?" is not CV jobs needing NLP.
        merged.skills = [s for s in prev.skills if vocab.role_family(s) not in prev.roles]
    measure = _measure(text)
    if _cue("trend").search(text):
        intent = "trend"
    elif join or (measure and prev.intent not in ("figure", "comparison")):
        intent = "figure"
    else:
        intent = prev.intent
    if intent in ("figure", "comparison"):
        comparable = (measure or prev.measure or "salary") in _COMPARABLE
        intent = "comparison" if merged.two_of_a_kind() and comparable else "figure"
    if intent == "comparison":
        measure = next((m for m in (measure, prev.measure) if m in _COMPARABLE), "salary")
    else:
        measure = (measure or prev.measure or "count") if intent == "figure" else None
    return replace(_query(question, intent, measure, merged, profile or prev.profile), followup=True)


def _query(question: str, intent: str, measure: str | None, found: _Mentions, profile: Profile | None) -> Query:
    kinds: dict[str, Any] = {kind: tuple(getattr(found, kind)) for kind in _KINDS}
    if not kinds["cities"] and profile and profile.city:
        kinds["cities"] = (profile.city,)  # the asker's city is the default place filter
    return replace(Query(question, detect_language(question), intent, measure, profile=profile), **kinds)


def understand(question: str, previous: Query | None = None, companies: Iterable[str] = ()) -> Query:
    """Read a question: language, entities, intent, measure, a stated profile, follow-up inheritance.

    Args:
        question: the question as typed, English or Chinese ("北京的NLP岗位月薪多少？").
        previous: the last turn's Query; a short follow-up ("and in Shenzhen?", "深圳呢") inherits its
            intent, measure and filters, replacing only the kind of entity it names.
        companies: company names from the postings table; a question naming one (any case for Latin
            names, substring for Chinese names of two characters or more) gets it in `companies`.

    Returns:
        The Query. Unknown places (Paris, 巴黎, 某某市) are in `unknown_places`, never in `cities`.
    """
    text = unicodedata.normalize("NFKC", question or "").replace("’", "'").strip()
    names = tuple(companies)
    spans = _profile_spans(text)
    ask = _blank(text, spans)
    found = mentions(ask, names, strict_case=detect_language(text) == "en")
    profile = _profile(" ".join(text[s:e] for s, e in spans), names)
    if previous is not None and previous.intent != "out_of_scope" and _is_followup(ask, found):
        return _inherit(question, ask, found, previous, profile)
    intent = _intent(ask, found, profile)
    measure = _measure(ask) if intent == "figure" else _comparison_measure(ask) if intent == "comparison" else None
    return _query(question, intent, measure, found, profile)
