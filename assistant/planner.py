"""From an understood question to findings: which figures to compute, what evidence to fetch, advice."""

from __future__ import annotations

from typing import Any

from assistant import figures as fig
from assistant.figures import Filters
from assistant.retrieval import Evidence, HybridRetriever
from assistant.understand import Profile, Query
from assistant.vocab import canonical_city, gloss_terms, role_label, skill_aliases
from assistant.writer import AdviceRow, Block

#: Where a worker usually aims when the question names no target role.
AI_TARGETS = ("llm", "nlp", "ml", "cv", "ai_infra", "data_engineering", "data_analysis")
#: Below this cosine similarity an article passage is not taken as evidence for a fact question.
MIN_FACT_SIMILARITY = 0.3


def filters_for(query: Query) -> Filters:
    """The postings filters a question asks for. When it names a role family, the skills it mentions
    describe that role ("AI infrastructure", "数据分析岗位") rather than narrow it, so they are not applied."""
    skills = () if query.roles else query.skills
    return Filters(
        cities=query.cities, roles=query.roles, skills=skills, companies=query.companies,
        years=query.years, sources=query.sources,
    )  # fmt: skip


def gloss(query: Query) -> str:
    """The other script's names of what the question mentions, for cross-lingual retrieval."""
    words: list[str] = []
    for name in query.cities:
        city = canonical_city(name)
        if city:
            words += [city.name, city.zh]
    for role in query.roles:
        words += [role_label(role, "en"), role_label(role, "zh")]
    for skill in query.skills:
        words += list(skill_aliases(skill))[:3]
    words += gloss_terms(query.text)
    return " ".join(dict.fromkeys(words))


def coverage(db: fig.SQL) -> str:
    rows = db.query("SELECT source, min(year(posted)), max(year(posted)), count(*) FROM postings GROUP BY 1 ORDER BY 2")
    def span(a: int | None, b: int | None) -> str:
        return "dates unknown" if a is None else f"{a}–{b}" if a != b else str(a)

    return "; ".join(f"{s} {span(a, b)} ({n:,} postings)" for s, a, b, n in rows)


def _missing(db: fig.SQL, filters: Filters) -> bool:
    where, params = filters.where()
    return db.query(f"SELECT count(*) FROM postings WHERE {where}", params)[0][0] == 0


def figure_blocks(db: fig.SQL, query: Query) -> list[Block]:
    """The figures a figure, comparison or trend question needs, each with example postings."""
    blocks = [Block("unknown_place", Filters(), extra={"place": p}) for p in query.unknown_places]
    if query.intent not in ("figure", "comparison", "trend"):
        return blocks
    base = filters_for(query)
    if query.unknown_places and not base.cities:
        return blocks
    subjects = [base]
    if query.intent == "comparison":
        if len(base.cities) > 1:
            subjects = [base.with_(cities=(c,)) for c in base.cities]
        elif len(base.roles) > 1:
            subjects = [base.with_(roles=(r,)) for r in base.roles]
    measure = query.measure or "salary"
    # "Which cities have the most AI jobs?" then "and in Shanghai?": a ranking of one city is no ranking;
    # give that city's pay and count instead.
    ranked = {"top_cities": base.cities, "top_companies": base.companies}.get(measure, ())
    if len(ranked) == 1:
        measure = "salary"
    for subject in subjects:
        if _missing(db, subject):
            blocks.append(Block("no_postings", subject, extra={"coverage": coverage(db)}))
            continue
        examples = fig.examples(db, subject, limit=2)
        if query.intent == "trend":
            blocks.append(Block("trend", subject, fig.by_year(db, subject), examples))
        elif measure == "count":
            blocks.append(Block("count", subject, fig.count(db, subject), examples))
        elif measure == "share":
            whole = subject.with_(roles=(), skills=())
            if whole == subject:
                blocks.append(Block("count", subject, fig.count(db, subject), examples))
            else:
                blocks.append(Block("share", subject, fig.share(db, subject, whole), examples, {"whole": whole}))
        elif measure.startswith("top_"):
            dimension = measure.removeprefix("top_").rstrip("s").replace("citie", "city").replace("companie",
                                                                                                  "company")
            blocks.append(Block("top", subject, fig.top(db, subject, dimension), examples, {"dimension": dimension}))
        else:
            salary = fig.salary(db, subject)
            if salary:
                blocks.append(Block("salary", subject, salary, examples))
            blocks.append(Block("count", subject, fig.count(db, subject), examples))
    return blocks


def evidence_for(retriever: HybridRetriever, query: Query, k: int = 4) -> list[Evidence]:
    """Article passages: the answer to a fact question, steps for advice, and for figure questions the
    two passages closest to them (what the news says beside what the postings say). Nothing when nothing
    is close enough, and nothing for out-of-scope questions or places the data does not cover."""
    if query.intent == "out_of_scope":
        return []
    if query.intent in ("figure", "comparison", "trend"):
        k = 2
    if query.unknown_places and not query.cities:
        return []  # "巴黎的工作": the answer is that the data has no such place, not articles about China
    text = query.text
    if query.intent == "advice":
        targets = " ".join(role_label(r, "en") for r in query.roles) or "AI machine learning"
        text = f"{query.text} how workers move into {targets} roles skills"
    found = retriever.search(text, k=k, kinds=("article",), expansion=gloss(query))
    if not found:
        return []
    vector = retriever.corpus.embed_query(f"{text} {gloss(query)}".strip())
    best = _best_similarity(retriever, vector, found)
    return found if best >= MIN_FACT_SIMILARITY else []


def _best_similarity(retriever: HybridRetriever, vector: Any, found: list[Evidence]) -> float:
    import numpy as np

    got = retriever.corpus.vectors.articles.get(ids=[e.record_id for e in found], include=["embeddings"])
    matrix = np.asarray(got["embeddings"], dtype=np.float32)
    return float((matrix @ np.asarray(vector, dtype=np.float32)).max()) if len(matrix) else 0.0


def advise(db: fig.SQL, query: Query, profile: Profile | None) -> tuple[list[AdviceRow], dict[str, str]]:
    """Target roles ranked by demand, pay uplift and skill overlap, with each one's skill gap."""
    if query.intent != "advice":
        return [], {}
    profile = profile or query.profile or Profile()
    targets = query.roles or tuple(r for r in AI_TARGETS if r != profile.role)
    city = profile.city or (query.cities[0] if query.cities else None)
    use_city = city is not None and not _missing(db, Filters(cities=(city,), roles=targets))
    rows: list[AdviceRow] = []
    for role in targets:
        subject = Filters(roles=(role,), cities=(city,) if use_city and city else ())
        counted = fig.count(db, subject)[0]
        if not counted.value:
            continue
        salary = fig.salary(db, subject)
        median = float(salary[0].value) if salary else None
        top_skills = [str(f.filters["skill"]) for f in fig.top(db, subject, "skill", limit=8)]
        mine = set(profile.skills)
        rows.append(AdviceRow(
            role=role, count=int(counted.value), median=median,
            uplift=(median - profile.monthly_pay) if median is not None and profile.monthly_pay else None,
            overlap=tuple(s for s in top_skills if s in mine),
            gap=tuple(s for s in top_skills if s not in mine)[:4],
            examples=fig.examples(db, subject, limit=1), filters=subject.describe(),
        ))  # fmt: skip
    if not rows:
        return [], {}
    most = max(r.count for r in rows)
    best_pay = max((r.median or 0) for r in rows) or 1.0

    def score(row: AdviceRow) -> float:
        overlap = len(row.overlap) / max(len(row.overlap) + len(row.gap), 1)
        return 0.4 * row.count / most + 0.4 * (row.median or 0) / best_pay + 0.2 * overlap

    rows.sort(key=score, reverse=True)
    lang = query.language
    current = profile.title or (role_label(profile.role, lang) if profile.role else ("your role" if lang == "en"
                                                                                        else "当前岗位"))
    pay = f"{profile.monthly_pay:,.0f} CNY/month" if profile.monthly_pay else ("pay not given" if lang == "en"
                                                                               else "未提供薪资")
    if profile.monthly_pay and lang == "zh":
        pay = f"月薪 {profile.monthly_pay:,.0f} 元"
    where = ""
    if use_city and city:
        known = canonical_city(city)
        where = f" in {city}" if lang == "en" else f"（{known.zh if known else city}）"
    return rows[:4], {"current": current, "pay": pay, "where": where}
