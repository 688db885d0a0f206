"""Bilingual vocabularies: cities, skills and role families, read from the JSON files in `data/`.

The vocabularies are data, not code (`data/cities.json`, `data/skills.json`, `data/roles.json`, and
`data/places.json` for well-known places outside our data); this module loads them once (lazily, cached)
and matches text against them. Pure, stdlib only.

Matching rules shared by skills and role families:

* a pattern with a Chinese character matches as a case-insensitive substring
  ("大模型" in "大模型算法工程师");
* a Latin-only pattern matches case-insensitively as a whole word with ASCII boundaries, so "Java"
  does not match "JavaScript" but does match "Java开发" (Python's `\\b` treats Chinese characters
  as word characters, so it cannot be used);
* a one-letter pattern ("C", "R") also refuses a neighbouring letter, digit or Chinese character and
  a following "+", "#" or "&": "C端产品" and "R&D" give no skill, "Java/C/C++" still gives C;
* at each position the longest alias wins: "大模型算法" is LLM once, not LLM plus Algorithms.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).parent / "data"
_CJK = re.compile(r"[\u3400-\u9fff]")
_AREA_SEPARATORS = re.compile(r"\s*[·・|,，/]\s*")
# Districts such as 青岛"市北区" and 济南"市中区" start with 市: that 市 is not the city suffix.
_DISTRICT_STARTING_WITH_SHI = re.compile(r"市[南北中]区")
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")


@dataclass(frozen=True)
class City:
    """A city: the curated major cities (`cities.json`, with English names and aliases), then every other
    prefecture-level and county-level city of GB/T 2260 (`divisions.json`); `name` is the canonical English
    name (pinyin for the latter, with the province when two share it)."""

    name: str
    zh: str
    pinyin: str
    province_en: str
    province_zh: str
    level: str = "prefecture"  # or "county" (a county-level city, 县级市: 昆山, 阿勒泰)


@dataclass(frozen=True)
class _Province:
    zh: str
    short: str
    en: str
    kind: str


@dataclass(frozen=True)
class _CityIndex:
    cities: tuple[City, ...]
    by_name: dict[str, City]
    by_alias: dict[str, tuple[City, ...]]
    zh_prefixes: tuple[tuple[str, City], ...]  # Chinese names and aliases, longest first
    provinces: tuple[_Province, ...]
    province_prefixes: tuple[tuple[str, _Province], ...]  # full names, then region short names, longest first


@dataclass(frozen=True)
class _SkillIndex:
    pattern: re.Pattern[str]
    canonical: dict[str, str]  # normalized alias -> skill name
    names: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]]
    tag_classes: dict[str, Any]


def _load(name: str) -> dict[str, Any]:
    with open(_DATA / name, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _key(text: str) -> str:
    """Lookup key: NFKC, case-folded, no spaces, apostrophes or hyphens ("Xi'an" == "xian" == "XI AN")."""
    return re.sub(r"[\s'’\-_.]+", "", unicodedata.normalize("NFKC", text)).casefold()


def _norm_alias(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


@lru_cache(maxsize=1)
def _city_index() -> _CityIndex:
    data = _load("cities.json")
    provinces = tuple(_Province(**p) for p in data["provinces"])
    cities: list[City] = []
    by_name: dict[str, City] = {}
    by_alias: dict[str, list[City]] = {}
    zh_prefixes: list[tuple[str, City]] = []
    for row in data["cities"]:
        city = City(row["name"], row["zh"], row["pinyin"], row["province_en"], row["province_zh"])
        cities.append(city)
        by_name[_key(city.name)] = city
        for alias in (city.zh, city.zh + "市", city.pinyin, *row["aliases"]):
            bucket = by_alias.setdefault(_key(alias), [])
            if city not in bucket:
                bucket.append(city)
        # Prefixes leave a following 市 to city_from_area: in "青岛市北区" it belongs to the district.
        zh_prefixes += [(alias, city) for alias in (city.zh, *row["aliases"]) if _CJK.search(alias)]
    province_en = {p.zh: p.en for p in provinces}
    for city in _division_cities(by_name, province_en):
        cities.append(city)
        by_name[_key(city.name)] = city
        for alias in (city.zh, city.zh + "市", city.pinyin):
            bucket = by_alias.setdefault(_key(alias), [])
            if city not in bucket:
                bucket.append(city)
        zh_prefixes.append((city.zh, city))
    zh_prefixes.sort(key=lambda item: -len(item[0]))
    # Municipalities and SARs are parsed as cities ("上海上海浦东新区"); provinces by full name, and the five
    # autonomous regions also by the short name 51job writes without a suffix ("广西南宁", "内蒙古包头").
    prefixes = [(p.zh, p) for p in provinces]
    prefixes += [(p.short, p) for p in provinces if p.kind == "autonomous_region"]
    prefixes.sort(key=lambda item: -len(item[0]))
    return _CityIndex(
        cities=tuple(cities),
        by_name=by_name,
        by_alias={k: tuple(v) for k, v in by_alias.items()},
        zh_prefixes=tuple(zh_prefixes),
        provinces=provinces,
        province_prefixes=tuple(prefixes),
    )


def _division_cities(known: dict[str, City], province_en: dict[str, str]) -> list[City]:
    """The cities of `divisions.json` that the curated list does not hold, named by pinyin (with the province
    when the name is taken: "Yulin (Shaanxi)")."""
    curated = {city.zh for city in known.values()}
    made: list[City] = []
    taken = set(known)
    for row in _load("divisions.json")["cities"]:
        if row["zh"] in curated:
            continue
        province = province_en.get(row["province_zh"], row["province_zh"])
        name = row["pinyin"].capitalize()
        if _key(name) in taken:
            name = f"{name} ({province})"
        taken.add(_key(name))
        made.append(City(name, row["zh"], row["pinyin"], province, row["province_zh"], row["level"]))
    return made


def all_cities() -> tuple[City, ...]:
    """Every city of the vocabulary, major cities first."""
    return _city_index().cities


@lru_cache(maxsize=1 << 16)  # pure; places and titles repeat across thousands of postings
def canonical_city(text: str) -> City | None:
    """The city a name refers to, or None.

    Accepts Chinese with or without 市, the English name, pinyin and the aliases in the data, in any
    case and spacing ("Shenzhen", "深圳市", "shen zhen", "Peking"). A key shared by two cities (pinyin
    "taizhou" is 台州 and 泰州) gives None unless it is one city's canonical English name ("Suzhou" is
    苏州; 宿州 is "Suzhou (Anhui)").

    Args:
        text: a city name as written anywhere.

    Returns:
        The City, or None when the text is not exactly one known city.
    """
    index = _city_index()
    key = _key(text or "")
    for variant in (key, key.removesuffix("市"), key.removesuffix("city")):
        if not variant:
            continue
        if variant in index.by_name:
            return index.by_name[variant]
        found = index.by_alias.get(variant, ())
        if len(found) == 1:
            return found[0]
    return None


def _city_prefix(text: str) -> tuple[City, str] | None:
    for alias, city in _city_index().zh_prefixes:
        if text.startswith(alias):
            rest = text[len(alias) :]
            if city.level == "county" and rest[:1] in ("区", "县"):
                continue  # a district or county of the same name elsewhere ("开平区" is in 唐山, not 开平市)
            return city, rest
    return None


@lru_cache(maxsize=1 << 16)  # pure; places and titles repeat across thousands of postings
def city_from_area(text: str) -> tuple[City | None, str | None]:
    """Split a messy location into (city, the rest).

    Handles 51job `广东省广州黄埔区` and `上海上海浦东新区` (province or city, then city, then district run
    together), Zhaopin `北京·海淀·花园路`, Lagou `北京`, and plain names in any language. The province, when
    written, must agree with the city. A county-level city (`江苏省昆山`), a new area (`河北省雄安新区`) or an
    unknown place gives (None, text) rather than a wrong city.

    Args:
        text: the location string as scraped.

    Returns:
        (city, rest): rest is the district or whatever follows the city (`"海淀·花园路"`,
        `"黄埔区"`), None when nothing follows; (None, text) when no city can be read with
        confidence; (None, None) for empty text.
    """
    raw = (text or "").strip()
    if not raw:
        return None, None
    whole = canonical_city(raw)
    if whole is not None:
        return whole, None
    parts = [p for p in _AREA_SEPARATORS.split(raw) if p]
    if len(parts) > 1:
        first = canonical_city(parts[0])
        if first is not None:
            return first, "·".join(parts[1:])
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw))
    province: _Province | None = None
    rest = compact
    for prefix, candidate in _city_index().province_prefixes:
        if compact.startswith(prefix):
            province, rest = candidate, compact[len(prefix) :]
            break
    found = _city_prefix(rest)
    if found is None and province is None:
        # A garbled province ("广省惠州惠城区"): read the city right after the first 省.
        cut = rest.find("省")
        if 0 < cut <= 3:
            found = _city_prefix(rest[cut + 1 :])
    if found is None:
        if province is not None and province.kind in ("municipality", "sar"):
            return canonical_city(province.short), rest or None
        return None, raw
    city, rest = found
    if province is not None and province.zh != city.province_zh:
        return None, raw
    if rest.startswith("市") and not _DISTRICT_STARTING_WITH_SHI.match(rest):
        rest = rest[1:]
    if province is None and rest.startswith(city.zh):
        rest = rest[len(city.zh) :]  # 51job repeats the city for municipalities: "上海上海浦东新区"
    return city, rest.strip(" ·-") or None


def _alias_regex(alias: str) -> str:
    body = re.escape(alias).replace(r"\ ", r"\s*")
    if _CJK.search(alias):
        return body
    if len(alias) == 1:
        return rf"(?<![\w+#&.]){body}(?![\w+#&])"
    # Digits may follow ("python3", "Java8") but not letters ("JavaScript"); nothing alphanumeric may precede.
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z])"


def _alternation(aliases: list[str]) -> re.Pattern[str]:
    """One regex for many aliases, longest first; grouped by first character because a flat alternation of
    ~700 branches is tried branch by branch at every position (five times slower on the 51job tags)."""
    groups: dict[str, list[str]] = {}
    for alias in sorted(set(aliases), key=lambda a: (-len(a), a)):
        groups.setdefault(alias[0].casefold(), []).append(_alias_regex(alias))
    branches = (f"(?={re.escape(first)})(?:{'|'.join(alts)})" for first, alts in groups.items())
    return re.compile("|".join(branches), re.IGNORECASE)


@lru_cache(maxsize=1)
def _skill_index() -> _SkillIndex:
    data = _load("skills.json")
    canonical: dict[str, str] = {}
    names: list[str] = []
    aliases: dict[str, tuple[str, ...]] = {}
    all_aliases: list[str] = []
    for row in data["skills"]:
        name = row["name"]
        names.append(name)
        aliases[name] = tuple(row["aliases"])
        for alias in row["aliases"]:
            key = _norm_alias(alias)
            if canonical.get(key, name) != name:
                raise ValueError(f"skills.json: alias {alias!r} is in {canonical[key]!r} and {name!r}")
            canonical[key] = name
            all_aliases.append(unicodedata.normalize("NFKC", alias))
    return _SkillIndex(_alternation(all_aliases), canonical, tuple(names), aliases, data["tag_classes"])


def all_skills() -> tuple[str, ...]:
    """Canonical names of every skill in the vocabulary."""
    return _skill_index().names


def skill_aliases(name: str) -> tuple[str, ...]:
    """The aliases (English and Chinese) of a canonical skill name.

    Raises:
        ValueError: the name is not a canonical skill name.
    """
    index = _skill_index()
    if name not in index.aliases:
        raise ValueError(f"unknown skill {name!r}; expected one of all_skills(), e.g. 'Python', 'LLM'")
    return index.aliases[name]


_BOARD_ZH = {"Lagou": "拉勾", "51job": "前程无忧", "Zhaopin": "智联招聘"}


def source_label(name: str, lang: str = "en") -> str:
    """A job board as the reader's language names it (Zhaopin / 智联招聘); other sources as written."""
    return _BOARD_ZH.get(name, name) if lang == "zh" else name


def skill_label(name: str, lang: str = "en") -> str:
    """A skill as the reader's language names it: in Chinese, its first Chinese alias (机器学习 for Machine
    Learning); names with no Chinese alias (PyTorch, Java) and tags outside the vocabulary stay as written."""
    if lang != "zh":
        return name
    aliases = _skill_index().aliases.get(name, ())
    return next((a for a in aliases if _CJK.search(a) and not re.search(r"[A-Za-z]", a)), name)


@lru_cache(maxsize=1 << 16)  # pure; tags and titles repeat across thousands of postings
def find_skills(text: str) -> tuple[str, ...]:
    """Canonical skills named in free text (a title, a tag list), in order of appearance, no repeats.

    Args:
        text: any text; "Java/C++/C/python/算法" gives ("Java", "C++", "C", "Python", "Algorithms").

    Returns:
        Canonical skill names; empty when none is found.
    """
    if not text:
        return ()
    index = _skill_index()
    found: dict[str, None] = {}
    for match in index.pattern.finditer(unicodedata.normalize("NFKC", text)):
        found.setdefault(index.canonical[_norm_alias(match.group(0))], None)
    return tuple(found)


def skill_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    """Where each skill is named in a text (NFKC-normalised first), as (start, end, canonical name)."""
    index = _skill_index()
    return tuple((m.start(), m.end(), index.canonical[_norm_alias(m.group(0))])
                 for m in index.pattern.finditer(unicodedata.normalize("NFKC", text or "")))  # fmt: skip


@lru_cache(maxsize=1 << 16)
def classify_tag(tag: str) -> str:
    """Class of one tag from a mixed tag list (51job `tags`, Zhaopin 技能).

    Order: experience ("3-4年", "在校生/应届生"), education ("本科", "学历不限"), skill (the tag
    names a skill of the vocabulary, "mysql数据库"), benefit ("五险一金", "周末双休"), else other.
    Fields of study such as "计算机" or "软件工程" are "other": they say which degree is wanted, not
    what the person can do.

    Returns:
        "experience" | "education" | "skill" | "benefit" | "other".
    """
    t = unicodedata.normalize("NFKC", tag or "").strip()
    if not t:
        return "other"
    classes = _skill_index().tag_classes
    if t in classes["experience"] or any(re.match(rx, t) for rx in classes["experience_regex"]):
        return "experience"
    if t in classes["education"]:
        return "education"
    if find_skills(t):
        return "skill"
    if any(s in t for s in classes["benefit_substrings"]):
        return "benefit"
    return "other"


@dataclass(frozen=True)
class _RoleRule:
    key: str
    en: str
    zh: str
    head_only: bool  # match only the title without its bracketed parts
    pattern: re.Pattern[str]


@lru_cache(maxsize=1)
def _role_rules() -> tuple[tuple[_RoleRule, ...], str]:
    data = _load("roles.json")
    rules = tuple(
        _RoleRule(f["key"], f["en"], f["zh"], f["head_only"], _alternation([*f["zh_patterns"], *f["en_patterns"]]))
        for f in data["families"]
    )
    return rules, data["fallback"]


def role_families() -> tuple[str, ...]:
    """Role-family keys in rule order ("sales", "teaching", ..., "management")."""
    return tuple(rule.key for rule in _role_rules()[0])


@lru_cache(maxsize=1 << 16)  # pure; places and titles repeat across thousands of postings
def role_family(title: str) -> str:
    """The role family of a job title: the first rule of `roles.json` that matches, else "other".

    Families flagged `head_only` (sales, teaching, product, other, management) ignore bracketed parts of the
    title; the technical families read the whole title, where a bracket often names the speciality.

    Args:
        title: a job title in Chinese and/or English, e.g. "NLP算法工程师" (nlp), "AI产品经理" (product).

    Returns:
        A key of role_families().
    """
    rules, fallback = _role_rules()
    text = unicodedata.normalize("NFKC", title or "")
    # "数据挖掘高级工程师（商家与销售）": a bracket often names a department or client, not the job, so the
    # non-technical families (flagged head_only) look at the title without it.
    head = _BRACKETED.sub(" ", text).strip() or text
    for rule in rules:
        if rule.pattern.search(head if rule.head_only else text):
            return rule.key
    return fallback


def role_label(key: str, lang: str = "en") -> str:
    """Human label of a role family, in English ("en") or Chinese ("zh").

    Raises:
        ValueError: unknown key or language.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    for rule in _role_rules()[0]:
        if rule.key == key:
            return rule.en if lang == "en" else rule.zh
    raise ValueError(f"unknown role family {key!r}; expected one of {', '.join(role_families())}")


def alias_pattern(aliases: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive regex for many aliases, under the matching rules of this module (see top).

    Lets other modules (question understanding) match their own word lists exactly as titles are matched:
    Chinese as substrings, Latin as whole words, longest alias first at each position.

    Args:
        aliases: names in any script; blank ones are ignored.

    Returns:
        A compiled pattern; look a match up with `alias_key(match.group(0))`. With no aliases, a pattern
        that never matches.
    """
    cleaned = [unicodedata.normalize("NFKC", a) for a in aliases if a and a.strip()]
    return _alternation(cleaned) if cleaned else re.compile(r"(?!)")


def alias_key(text: str) -> str:
    """Lookup key of an alias or of a match of `alias_pattern`: NFKC, case-folded, no whitespace."""
    return _norm_alias(text)


@lru_cache(maxsize=1)
def city_forms() -> tuple[str, ...]:
    """Every written form of every city: English name, Chinese with and without 市, pinyin, aliases.

    A form shared by two cities (pinyin "taizhou") is included; `canonical_city` says which, if any. A county-level
    city is found in free text only with its 市 or by its English name: its bare name is often a word too
    (安宁 is a city in Yunnan and means "calm").
    """
    forms: dict[str, None] = {}
    for row in _load("cities.json")["cities"]:
        for form in (row["name"], row["zh"], row["zh"] + "市", row["pinyin"], *row["aliases"]):
            forms.setdefault(form, None)
    for city in all_cities():
        written = (city.name, city.zh + "市") if city.level == "county" else (city.name, city.zh, city.zh + "市")
        for form in written:
            forms.setdefault(form, None)
    return tuple(forms)


@dataclass(frozen=True)
class PlaceMention:
    """A place named in free text: a city of the vocabulary (`known`, canonical English name) or not."""

    name: str
    known: bool
    start: int
    end: int


@dataclass(frozen=True)
class _PlaceIndex:
    pattern: re.Pattern[str]  # city forms and foreign places together
    foreign: dict[str, tuple[str, str]]  # alias key -> (English name, Chinese name)
    not_places: re.Pattern[str]
    shi_words: re.Pattern[str]
    shi_strip: str


_UNKNOWN_SHI = re.compile(r"([\u4e00-\u9fff]{2,4})市")


@lru_cache(maxsize=1)
def _place_index() -> _PlaceIndex:
    data = _load("places.json")
    foreign = {a: (p["en"], p["zh"]) for p in data["places"] for a in (p["en"], p["zh"], *p["aliases"])}
    return _PlaceIndex(
        # One pattern, longest first at each position: "北京都有" is Beijing, not 京都 (Kyoto).
        pattern=alias_pattern([*city_forms(), *foreign]),
        foreign={alias_key(a): names for a, names in foreign.items()},
        not_places=alias_pattern(data["not_places"]),
        shi_words=alias_pattern(data["shi_words"]),
        shi_strip=data["shi_prefix_strip"],
    )


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def find_places(text: str) -> tuple[PlaceMention, ...]:
    """Places named in free text (a question), in order: known cities and places we have no data for.

    Known: any written form of a city ("Shenzhen", "深圳市", "帝都"); a pinyin two cities share ("Taizhou")
    is skipped rather than guessed. Unknown: the places of `places.json` (reported in the script they were
    written in: "Paris" or "巴黎") and Chinese names written with 市 that are not in the vocabulary
    ("昆山市", "某某市"; words such as 城市 or 市场 are not places).

    Args:
        text: any text.

    Returns:
        The mentions with their spans in `text`, in order of appearance.
    """
    index = _place_index()
    work = _blank(text, (m.span() for m in index.not_places.finditer(text)))  # 朝阳行业 is not 朝阳
    found: list[PlaceMention] = []
    for hit in index.pattern.finditer(work):
        surface = hit.group(0)
        if (names := index.foreign.get(alias_key(surface))) is not None:
            found.append(PlaceMention(names[1] if _CJK.search(surface) else names[0], False, *hit.span()))
        elif (city := canonical_city(surface)) is not None:
            found.append(PlaceMention(city.name, True, *hit.span()))
    work = _blank(work, ((p.start, p.end) for p in found))
    work = _blank(work, (m.span() for m in index.shi_words.finditer(work)))
    for hit in _UNKNOWN_SHI.finditer(work):
        name = hit.group(1).lstrip(index.shi_strip)  # 在昆山市 -> 昆山
        if len(name) >= 2 and canonical_city(name) is None:
            found.append(PlaceMention(name + "市", False, hit.end() - len(name) - 1, hit.end()))
    return tuple(sorted(found, key=lambda p: p.start))


@lru_cache(maxsize=1)
def _glossary() -> tuple[tuple[str, str], ...]:
    doc = json.loads((_DATA / "glossary.json").read_text(encoding="utf-8"))
    # Longest terms first, so 人才缺口 is glossed before 人才.
    return tuple(sorted(doc["zh_en"].items(), key=lambda kv: -len(kv[0])))


@lru_cache(maxsize=1)
def _question_words() -> frozenset[str]:
    """Glossary entries that widen a search but are not a passage's key terms (为什么 "why reasons", 想要 "want")."""
    doc = json.loads((_DATA / "glossary.json").read_text(encoding="utf-8"))
    return frozenset(doc.get("search_only", ()))


def chinese_gloss(text: str, limit: int = 5) -> tuple[str, ...]:
    """Chinese names of the key terms an English passage uses, from the glossary and the role and skill
    vocabularies (a gloss for a Chinese reader; nothing is translated that the vocabularies do not hold)."""
    lowered = f" {text.lower()} "
    found: list[str] = []
    glossed: set[str] = set()  # 字节跳动 and 字节 are both ByteDance: one of them
    question_words = _question_words()
    for zh, en in _glossary():
        if zh in question_words or en in glossed:
            continue
        # Every word that carries meaning ("talent gap shortage": talent, shortage) must be in the passage.
        words = [w for w in en.lower().split() if len(w) >= 4]
        if words and all(re.search(rf"\b{re.escape(w)}", lowered) for w in words) and zh not in found:
            found.append(zh)
            glossed.add(en)
    for rule in _role_rules()[0]:
        if re.search(rf"\b{re.escape(rule.en.split(' & ')[0].lower())}\b", lowered) and rule.zh not in found:
            found.append(rule.zh)
    return tuple(found[:limit])


def gloss_terms(text: str) -> tuple[str, ...]:
    """English words for the Chinese question words in `text` (cross-lingual retrieval expansion)."""
    found: list[str] = []
    rest = text
    for zh, en in _glossary():
        if zh in rest:
            found.append(en)
            rest = rest.replace(zh, " ")
    return tuple(found)
