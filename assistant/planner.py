"""From an understood question to findings: which figures to compute, what evidence to fetch, advice."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assistant import figures as fig
from assistant.plan import AI_TARGETS, TECH_FAMILIES, Part, Plan, experience_band, with_period
from assistant.retrieval import (
    Evidence,
    distinctive_terms,
    sentence_scores,
    split_sentences,
    tokenize,
    with_sentence_similarity,
)
from assistant.schema import EDUCATION_LEVELS, Figure, Filters
from assistant.understand import Profile, Query
from assistant.vocab import canonical_city, gloss_terms, role_label, skill_aliases, source_label
from assistant.writer import AdviceRow, Block

if TYPE_CHECKING:
    from assistant.retriever import HybridRetriever

#: Below this cosine similarity an article passage is not taken as evidence for a fact question.
MIN_FACT_SIMILARITY = 0.3
#: A fact answer quotes a passage only when it shares this many distinctive words with the question (one, for a
#: question with three or fewer).
MIN_SHARED_TERMS = 2


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


def coverage(db: fig.SQL, lang: str = "en") -> str:
    """What the postings cover, per source, in the reader's language."""

    def span(a: int | None, b: int | None) -> str:
        unknown = "dates unknown" if lang == "en" else "日期不详"
        return unknown if a is None else f"{a}–{b}" if a != b else str(a)

    if lang == "zh":
        return "；".join(f"{source_label(s, lang)} {span(a, b)}（{n:,} 个职位）" for s, a, b, n in fig.coverage(db))
    return "; ".join(f"{s} {span(a, b)} ({n:,} postings)" for s, a, b, n in fig.coverage(db))


def _missing(db: fig.SQL, filters: Filters) -> bool:
    return not fig.has_postings(db, filters)


def resolve(db: fig.SQL, plan: Plan) -> tuple[Plan, dict[str, Any]]:
    """The plan with relative periods resolved against the data, and what was resolved (said in the answer)."""
    said: dict[str, Any] = {}
    terms = {t for subject in plan.subjects for t in subject.title_terms}
    missing = {t for t in terms if not fig.titles_containing(db, t)}
    if missing:
        # A job name no posting title contains is named as not found, not silently widened to every posting.
        kept = [tuple(t for t in s.title_terms if t not in missing) for s in plan.subjects]
        subjects = tuple(s.with_(title_terms=k) for s, k in zip(plan.subjects, kept, strict=True))

        def checked(part: Part) -> Part:
            if part.term in missing:
                return Part(part.words, part.meaning, _NO_TITLE[plan.language].format(term=part.term))
            return part

        parts = tuple(checked(p) for p in plan.parts)
        plan = replace(plan, subjects=subjects, parts=parts)
    year = fig.newest_year(db)
    plan = _graduation_as_experience(plan, year)
    if plan.period and year is not None:
        wanted = year if plan.period == "this_year" else year - 1
        said["period"] = (plan.period, wanted, year)
        plan = with_period(plan, wanted)
    elif plan.query.unknown_places and not any(s.cities for s in plan.subjects):
        pass  # "NLP in Paris": the answer is that the data has no such place, with no figure and no period
    elif year is not None and plan.intent in _CURRENT and not any(s.years or s.sources for s in plan.subjects):
        plan, said = _recent(db, plan, year, said)
    if plan.intent == "comparison" and len(plan.subjects) > 1 and not any(s.sources for s in plan.subjects):
        plan, said = _same_board(db, plan, said)
    return plan, said


_GRADUATED = {
    "en": "graduating in {year}: about {years} years of experience by {newest}, the newest postings' year",
    "zh": "{year} 年毕业：到 {newest} 年（数据中最新的年份）约有 {years} 年经验",
}


def _graduation_as_experience(plan: Plan, newest: int | None) -> Plan:
    """"19 年毕业，我这水平值多少": for a pay question with no stated experience, the years since graduation by the
    newest postings' year are the experience band, and the answer says how it was read."""
    grad = plan.asker.graduation
    pay = plan.measure in ("salary", "pay_position") and plan.intent in ("figure", "guidance")
    if grad is None or newest is None or not pay or plan.asker.experience is not None:
        return plan
    if any(s.experience_years is not None for s in plan.subjects) or not 0 <= newest - grad.value <= 45:
        return plan
    years = newest - grad.value
    band = experience_band(years)
    meaning = _GRADUATED[plan.language].format(year=grad.value, years=years, newest=newest)
    parts = tuple(p for p in plan.parts if p.words != grad.words) + (Part(grad.words, meaning),)
    return replace(plan, subjects=tuple(s.with_(experience_years=band) for s in plan.subjects), parts=parts)


def _same_board(db: fig.SQL, plan: Plan, said: dict[str, Any]) -> tuple[Plan, dict[str, Any]]:
    """Sides of a comparison drawn mostly from different boards (Java from 51job, LLM from Zhaopin) compare the
    boards, not the jobs: when the sides' mixes of boards differ, both are narrowed to the one board where every
    side has the most postings (at least `THIN`), and the answer says so."""
    mixes = [dict(fig.per_source(db, s)) for s in plan.subjects]
    boards = set.intersection(*(set(m) for m in mixes))
    totals = [sum(m.values()) or 1 for m in mixes]
    spread = max(
        (max(m.get(b, 0) / t for m, t in zip(mixes, totals, strict=True))
         - min(m.get(b, 0) / t for m, t in zip(mixes, totals, strict=True)))
        for b in set().union(*mixes)
    ) if any(mixes) else 0.0  # fmt: skip
    best = max(sorted(boards), key=lambda b: min(m[b] for m in mixes), default=None)  # ties: by name
    if spread < 0.25 or best is None or min(m[best] for m in mixes) < fig.THIN:
        return plan, said
    said["board"] = best
    said["other_boards"] = tuple(b for b in sorted(boards) if b != best and min(m[b] for m in mixes) >= fig.THIN)
    return replace(plan, subjects=tuple(s.with_(sources=(best,)) for s in plan.subjects)), said


#: Intents whose figures describe the market as it is: they use the recent snapshots when they can.
_CURRENT = ("figure", "comparison", "guidance")
#: How many years back from the newest data count as "recent".
RECENT_YEARS = 3


def _recent_years(db: fig.SQL) -> tuple[int, ...]:
    newest = fig.newest_year(db)
    return tuple(range(newest - RECENT_YEARS + 1, newest + 1)) if newest else ()


def _recent(db: fig.SQL, plan: Plan, newest: int, said: dict[str, Any]) -> tuple[Plan, dict[str, Any]]:
    """Figures about the market "now" come from the recent snapshots (the newest `RECENT_YEARS` years), not pooled
    with boards scraped years earlier: when every subject has at least `THIN` recent postings, the subjects are
    narrowed to those years and the answer says how many older postings were left out."""
    recent = tuple(range(newest - RECENT_YEARS + 1, newest + 1))
    counts = [fig.counts_in_years(db, s, recent) for s in plan.subjects]
    if not plan.subjects:
        return plan, said
    if max(n for n, _ in counts) == 0 and len(plan.subjects) == 1:
        span = fig.years_and_boards(db, plan.subjects[0])
        if span:
            said["dated"] = span  # "Alibaba" in this data: only 2017 postings; say so plainly
        return plan, said
    if min(n for n, _ in counts) < fig.THIN:
        older = sum(total - n for n, total in counts)
        if older > 0 and plan.intent in ("figure", "guidance"):
            # Pooled with older snapshots: say so, or a 2017-heavy figure passes for today's market.
            said["mixed"] = (recent[0], recent[-1], sum(n for n, _ in counts), older)
        return plan, said
    older = sum(total - n for n, total in counts)
    if older <= 0:
        return plan, said
    narrowed = tuple(s.with_(years=recent) for s in plan.subjects)
    said["recent"] = (recent[0], recent[-1], older)
    return replace(plan, subjects=narrowed), said


_NO_TITLE = {"en": "no posting title contains “{term}”", "zh": "没有职位名称包含“{term}”"}
_DIMENSION = {"top_cities": "city", "top_companies": "company", "top_skills": "skill", "top_titles": "title",
              "top_experience": "experience"}  # fmt: skip


def figure_blocks(db: fig.SQL, plan: Plan) -> list[Block]:
    """The figures a plan needs, each with example postings."""
    query = plan.query
    blocks = [Block("unknown_place", Filters(), extra={"place": p}) for p in query.unknown_places]
    if plan.intent == "advice" and "baseline" in plan.extra_measures:
        # The jobs the asker compares their target with: every engineering role, the market now.
        tech = Filters(roles=TECH_FAMILIES, years=_recent_years(db))
        salary = fig.salary(db, tech)
        return (
            blocks
            + ([Block("salary", tech, salary, [])] if salary else [])
            + [Block("count", tech, fig.count(db, tech), [])]
        )
    if plan.intent == "advice" and "target_asks" in plan.extra_measures and plan.targets:
        # "可行吗": what the named targets ask for, experience and degree, beside the ranked rows.
        profile = plan.query.profile or Profile()
        city = _advice_city(db, plan, profile, plan.targets)
        for role in plan.targets[:2]:
            subject, _ = _target_subject(db, Filters(roles=(role,)), city, _recent_years(db))
            for dimension in ("experience", "education"):
                ranking = fig.top(db, subject, dimension, limit=8)
                if ranking:
                    blocks.append(Block(dimension, subject, ranking, [], {"dimension": dimension}))
    if plan.intent == "advice" and "open_to" in plan.extra_measures:
        # "5 years of backend, can I move into ML?": how many of each target's postings would take them.
        profile = plan.query.profile or Profile()
        origin = profile.role or (plan.origins[0] if plan.origins else None)
        targets = plan.targets or tuple(r for r in AI_TARGETS if r != origin)
        city = _advice_city(db, plan, profile, targets)
        for role in targets[:4]:
            subject, _ = _target_subject(db, Filters(roles=(role,)), city, _recent_years(db))
            blocks += open_to_blocks(db, plan, subject)
    if plan.intent not in ("figure", "comparison", "trend", "guidance"):
        return blocks
    if (query.unknown_places and not any(s.cities for s in plan.subjects)) or not plan.subjects:
        return blocks
    measure = plan.measure or "salary"
    base = plan.subjects[0]
    # "Which cities have the most AI jobs?" then "and in Shanghai?": a ranking of one city is no ranking;
    # give that city's pay and count instead.
    ranked = {"top_cities": base.cities, "top_companies": base.companies}.get(measure, ())
    if len(ranked) == 1:
        measure = "salary"
    if measure == "pay_equivalent" and plan.pays and len(plan.subjects) >= 2:
        return blocks + _equivalent_blocks(db, plan)
    for asked, subject, thin_note in _with_thin_wider(db, plan, measure):
        if thin_note is not None:
            blocks.append(thin_note)
        unbounded = subject.with_(pay_min=None, pay_max=None)  # none paying that much is itself the answer
        if thin_note is None and _missing(db, unbounded) and (wider_and_dropped := _nearest(db, subject)):
            # Nothing matches every condition: say so, and give the nearest population that has postings, named.
            wider, dropped = wider_and_dropped
            if measure == "count":
                blocks.append(Block("count", subject, fig.count(db, subject), []))  # the count asked: none
            blocks.append(Block("no_postings_wider", subject, extra={"wider": wider, "dropped": dropped}))
            subject = wider
            widened = True
        else:
            widened = thin_note is not None
        if _missing(db, subject.with_(pay_min=None, pay_max=None)):
            blocks.append(Block("no_postings", subject, extra={"coverage": coverage(db, plan.language)}))
            continue
        # A widened population is said in words; its postings are not cited as examples of the one asked about.
        examples = [] if widened else fig.examples(db, subject, limit=2)
        if plan.intent == "trend":
            blocks.append(Block("trend", subject, fig.by_year(db, subject), examples))
        elif measure == "count":
            blocks.append(Block("count", subject, fig.count(db, subject), examples))
        elif measure == "share":
            blocks.extend(_share_blocks(db, plan, subject, examples))
        elif measure == "pay_position" and plan.pays:
            # Paired pays (one per city) are placed in their own subject; otherwise every pay in each subject.
            paired = len(plan.pays) == len(plan.subjects) > 1
            yearly = plan.yearly or (None,) * len(plan.pays)
            indexes = (asked,) if paired else tuple(range(len(plan.pays)))
            salary = fig.salary(db, subject)
            for i in indexes:
                pay, package = plan.pays[i], yearly[i]
                if package is not None:
                    # A yearly package against yearly totals: 20w-30w 总包 is not 20k a month times 12.
                    position = fig.yearly_pay_position(db, subject, package)
                    if position:
                        blocks.append(Block("pay_position_yearly", subject, position, examples, {"pay": package}))
                    continue
                position = fig.pay_position(db, subject, pay)
                if position:
                    blocks.append(Block("pay_position", subject, position + salary, examples, {"pay": pay}))
            if not salary:
                blocks.append(Block("count", subject, fig.count(db, subject), examples))
        elif measure == "education" or measure == "experience":
            ranking = fig.top(db, subject, measure, limit=8)
            stating = ranking[0].n if ranking else 0
            unstated = int(fig.count(db, subject)[0].value) - stating  # postings that do not say (e.g. Lagou 2017)
            told = {"dimension": measure, "unstated": unstated}
            blocks.append(Block(measure, subject, ranking, examples, told))
        elif measure.startswith("top_"):
            dimension = _DIMENSION[measure]
            if plan.rank_by == "salary" and dimension != "skill":
                ranking = fig.top_by_pay(db, subject, dimension, limit=8 if dimension == "experience" else 5)
                blocks.append(Block("top_pay", subject, ranking, examples,
                                    {"dimension": dimension, "min_n": fig.MIN_RANKED}))  # fmt: skip
            else:
                blocks.append(Block("top", subject, fig.top(db, subject, dimension), examples,
                                    {"dimension": dimension}))  # fmt: skip
        else:
            salary = fig.salary(db, subject)
            if salary:
                blocks.append(Block("salary", subject, salary, examples))
            blocks.append(Block("count", subject, fig.count(db, subject), examples))
        for extra in plan.extra_measures:
            if extra == "level" and plan.pays:
                # "年薪 30w 该达到什么水平", "10 万和 50 万的程序员差在哪": what the postings paying that much ask for.
                for pay in sorted(set(plan.pays))[:4]:
                    above = subject.with_(pay_min=pay)
                    for dimension in ("experience", "education"):
                        ranking = fig.top(db, above, dimension, limit=6)
                        if ranking:
                            blocks.append(Block(dimension, above, ranking, [], {"dimension": dimension}))
                    skills = fig.top(db, above, "skill", limit=6)
                    if skills:
                        blocks.append(Block("top", above, skills, [], {"dimension": "skill"}))
            if extra in _DIMENSION:
                dimension = _DIMENSION[extra]
                wider = subject.with_(cities=()) if dimension == "city" else subject
                wider = wider.with_(companies=()) if dimension == "company" else wider
                blocks.append(Block("top", wider, fig.top(db, wider, dimension), [], {"dimension": dimension}))
            if extra in ("education", "experience"):
                if extra == measure or (subject.education if extra == "education" else subject.experience_years):
                    continue  # a population already limited to one degree (band) has no mix of them to show
                ranking = fig.top(db, subject, extra, limit=8)
                if ranking:
                    blocks.append(Block(extra, subject, ranking, [], {"dimension": extra}))
            if extra == "salary" and measure != "salary":
                salary = fig.salary(db, subject)
                if salary:
                    blocks.append(Block("salary", subject, salary, []))
            if extra == "open_to":
                blocks += open_to_blocks(db, plan, subject)
            if extra == "target_skills" and measure != "top_skills":
                skills = fig.top(db, subject, "skill", limit=8)  # "what did your learning path look like": the asks
                if skills:
                    blocks.append(Block("top", subject, skills, [], {"dimension": "skill"}))
    return blocks


def _equivalent_blocks(db: fig.SQL, plan: Plan) -> list[Block]:
    """A pay placed among the first subject's postings, then the pay at that same position among each other
    subject's ("7.5k in Changsha is above 40% there; 40% of Beijing's postings pay less than X")."""
    home, pay = plan.subjects[0], plan.pays[0]
    position = fig.pay_position(db, home, pay)
    if not position:
        return [Block("no_postings", home, extra={"coverage": coverage(db, plan.language)})]
    salary = fig.salary(db, home)
    blocks = [Block("pay_position", home, position + salary, fig.examples(db, home, limit=2), {"pay": pay})]
    share = float(position[0].value) / 100  # the percent of home postings paying less
    for away in plan.subjects[1:]:
        same = fig.pay_at_share(db, away, share)
        if same:
            blocks.append(Block("pay_equivalent", away, same, fig.examples(db, away, limit=1), {"pay": pay}))
        else:
            blocks.append(Block("no_postings", away, extra={"coverage": coverage(db, plan.language)}))
    return blocks


def open_to_blocks(db: fig.SQL, plan: Plan, subject: Filters) -> list[Block]:
    """Of the postings that state a degree (experience), the share that would take the asker's own: asking for
    that degree or a lower one ("不限" included), or for no more years than the asker has."""
    blocks: list[Block] = []
    asker = plan.asker
    if asker.degree is not None and asker.degree.value in EDUCATION_LEVELS:
        whole = subject.with_(education=EDUCATION_LEVELS)
        allowed = EDUCATION_LEVELS[: EDUCATION_LEVELS.index(asker.degree.value) + 1]
        share = fig.share(db, whole.with_(education=allowed), whole)
        if share:
            blocks.append(Block("open_degree", whole, share, [], {"words": asker.degree.words,
                                                                   "level": asker.degree.value}))  # fmt: skip
    if asker.experience is not None:
        whole = subject.with_(experience_years=(0, 99))
        years = int(asker.experience.value)
        share = fig.share(db, whole.with_(experience_years=(0, years)), whole)
        if share:
            blocks.append(Block("open_experience", whole, share, [], {"words": asker.experience.words,
                                                                       "years": years}))  # fmt: skip
    return blocks


#: What is left out, in order, when no posting meets every condition of a question ("南京三年前端": no frontend
#: posting in Nanjing asks 3 years): the asker's experience and degree first, then the city (the role everywhere),
#: then the role (every engineering role in that city).
_RELAXATIONS: tuple[tuple[str, ...], ...] = (
    ("experience",), ("education",), ("experience", "education"), ("city",), ("city", "experience", "education"),
    ("role",), ("role", "experience", "education"),
)


def _relaxed(subject: Filters, dropped: tuple[str, ...]) -> Filters | None:
    """The subject without the dropped conditions; None when it has none of them to drop."""
    changes: dict[str, Any] = {}
    if "experience" in dropped:
        if subject.experience_years is None:
            return None
        changes["experience_years"] = None
    if "education" in dropped:
        if not subject.education:
            return None
        changes["education"] = ()
    if "city" in dropped:
        if not subject.cities or not (subject.roles or subject.title_terms or subject.skills):
            return None
        changes["cities"] = ()
    if "role" in dropped:
        if not subject.cities or not (subject.roles or subject.title_terms or subject.skills):
            return None
        changes |= {"roles": TECH_FAMILIES, "title_terms": (), "skills": ()}
    return subject.with_(**changes)


def _nearest(db: fig.SQL, subject: Filters, least: int = 1) -> tuple[Filters, tuple[str, ...]] | None:
    """The first relaxation of a subject that has at least `least` postings, with what it left out."""
    for dropped in _RELAXATIONS:
        wider = _relaxed(subject, dropped)
        if wider is not None and (not _missing(db, wider) if least <= 1 else fig.count(db, wider)[0].n >= least):
            return wider, dropped
    return None


#: Measures whose figure from a handful of postings is worth setting beside a wider population's.
_THIN_WIDENED = ("salary", "pay_position", "education", "experience")


def _with_thin_wider(db: fig.SQL, plan: Plan, measure: str) -> list[tuple[int, Filters, Block | None]]:
    """Each subject, and after one with postings but fewer than `THIN`, the nearest wider population that has
    enough, with a note naming what it leaves out ("三年前端 in 杭州: 1 posting; frontend roles asking 3–4 years
    everywhere: 15"). Each comes with the index of the subject it was asked as (a pay paired with a city)."""
    out: list[tuple[int, Filters, Block | None]] = []
    for index, subject in enumerate(plan.subjects):
        out.append((index, subject, None))
        if measure not in _THIN_WIDENED or plan.intent == "trend":
            continue
        n = fig.count(db, subject.with_(pay_min=None, pay_max=None))[0].n
        if 0 < n < fig.THIN and (found := _nearest(db, subject, least=fig.THIN)):
            wider, dropped = found
            out.append((index, wider, Block("thin_wider", subject, extra={"wider": wider, "dropped": dropped, "n": n})))
    return out


def _share_blocks(db: fig.SQL, plan: Plan, subject: Filters, examples: list[Any]) -> list[Block]:
    """A share: of the postings with pay, those above/below a pay; of a role's postings, those listing a skill."""
    if subject.pay_min is not None or subject.pay_max is not None:
        whole = subject.with_(pay_min=None, pay_max=None)
        paid = fig.salary(db, whole)
        blocks = [Block("count", subject, fig.count(db, subject), examples)]
        if paid:
            part = fig.count(db, subject)[0]
            share = Figure("share_percent", round(100 * int(part.value) / paid[0].n, 1), paid[0].n,
                           subject.describe(), paid[0].source, paid[0].period, subject)  # fmt: skip
            blocks.append(Block("share", subject, [share], [], {"whole": whole, "of_paid": True}))
        return blocks
    whole = subject.with_(roles=(), skills=()) if plan.compare_kind != "skills" else subject.with_(skills=())
    if plan.compare_kind == "skill_in_role":
        whole = subject.with_(skills=())
    elif plan.compare_kind == "skills" and plan.query.roles:
        whole = subject.with_(skills=(), roles=plan.query.roles)
        subject = subject.with_(roles=plan.query.roles)
    if whole == subject:
        return [Block("count", subject, fig.count(db, subject), examples)]
    return [Block("share", subject, fig.share(db, subject, whole), examples, {"whole": whole})]


def evidence_for(retriever: HybridRetriever, plan: Plan, k: int = 4) -> list[Evidence]:
    """Article passages: the answer to a fact question, steps for advice, and for figure questions the
    two passages closest to them (what the news says beside what the postings say). Nothing when nothing
    is close enough, and nothing for out-of-scope questions or places the data does not cover."""
    query = plan.query
    if plan.intent in ("out_of_scope", "decline"):
        return []
    if plan.intent in ("figure", "comparison", "trend", "guidance"):
        k = 2
    if query.unknown_places and not query.cities:
        return []  # "巴黎的工作": the answer is that the data has no such place, not articles about China
    text = query.text
    if plan.intent == "advice":
        targets = " ".join(role_label(r, "en") for r in plan.targets) or "AI machine learning"
        text = f"{query.text} how workers move into {targets} roles skills"
    found = retriever.search(text, k=k, kinds=("article",), expansion=gloss(query))
    if not found:
        return []
    vector = retriever.corpus.embed_query(text)  # the vector retrieval used: the question as asked
    similar = _similarities(retriever, vector, found)
    if max(similar.values(), default=0.0) < MIN_FACT_SIMILARITY:
        return []
    if plan.intent != "fact":
        # Beside figures or advice, a passage is quoted only when it is itself close to the question.
        found = [e for e in found if similar.get(e.record_id, 0.0) >= MIN_FACT_SIMILARITY]
    if plan.intent == "advice":
        # Steps speak to a worker ("you", "your skills", "learn"): a report's press release is not a step.
        found = [e for e in found if _ADVICE_WORDS.search(e.text)]
    if plan.intent == "fact":
        # A passage is quoted only when it shares at least two distinctive words with the question (after the
        # glossary's English for Chinese words): the same broad AI-jobs passage is not quoted under every question.
        wanted = distinctive_terms(f"{query.text} {gloss(query)}")
        # A short question has one or two words that matter; a Chinese word and its English gloss are one.
        latin = {t for t in wanted if t.isascii()}
        needed = 1 if len(latin or wanted) <= 3 else MIN_SHARED_TERMS
        found = [e for e in found if needed and len(wanted & set(tokenize(e.text))) >= needed]
        # The answer opens with the passage whose best sentence answers best (by words and by meaning).
        found = with_sentence_similarity(retriever.corpus, found, query.text)
        found.sort(key=lambda e: -_answers(e, f"{query.text} {gloss(query)}"))  # the words the quote is chosen by
    return found


_ADVICE_WORDS = re.compile(r"\b(?:you|your|yourself|workers?|job seekers?|candidates?|learn(?:ing)?|skills?|"
                           r"career|reskill\w*)\b|你|技能|学习|转型|求职", re.I)  # fmt: skip


def _answers(item: Evidence, question: str) -> float:
    """How well the passage's best sentence answers the question."""
    sentences = split_sentences(item.text, item.title)
    return max(sentence_scores(sentences, question, item.sentence_similarity), default=0.0)


def _similarities(retriever: HybridRetriever, vector: Any, found: list[Evidence]) -> dict[str, float]:
    """Cosine of each passage's stored vector to the question's, by record id."""
    import numpy as np

    corpus = retriever.corpus
    keys = fig.chunk_vector_keys(corpus, [e.record_id for e in found])
    stored = corpus.vectors.vectors("article", list(keys.values()))
    query = np.asarray(vector, dtype=np.float32)
    return {chunk: float(np.asarray(stored[key], dtype=np.float32) @ query)
            for chunk, key in keys.items() if key in stored}  # fmt: skip


def _target_subject(
    db: fig.SQL, subject: Filters, city: str | None, recent: tuple[int, ...]
) -> tuple[Filters, int]:
    """An advice target's population: in the asker's city when it has postings there, the market now (the recent
    years) when they hold enough postings; with the number of postings in the recent years."""
    subject = subject.with_(cities=(city,) if city else ())
    recent_count = fig.count(db, subject.with_(years=recent))[0].n if recent else 0
    if recent and recent_count >= fig.THIN:
        subject = subject.with_(years=recent)  # the market now, as for figures
    return subject, recent_count


def _advice_city(db: fig.SQL, plan: Plan, profile: Profile, targets: tuple[str, ...]) -> str | None:
    """The asker's city for advice, when the targets have postings there."""
    city = profile.city or (plan.query.cities[0] if plan.query.cities else None)
    return city if city is not None and not _missing(db, Filters(cities=(city,), roles=targets)) else None


def advise(db: fig.SQL, plan: Plan, profile: Profile | None) -> tuple[list[AdviceRow], dict[str, str]]:
    """Target roles ranked by demand, pay uplift and skill overlap, with each one's skill gap. The targets are
    the roles the asker names (never their current one), else the AI roles."""
    query = plan.query
    if plan.intent != "advice":
        return [], {}
    profile = profile or query.profile or Profile()
    if profile.role is None and plan.origins:
        profile = replace(profile, role=plan.origins[0])  # "杭州 5 年前端想转行": where they come from, said in passing
    # The plan's targets are those named after the switching cue, minus where the asker comes from.
    targets = plan.targets or tuple(r for r in AI_TARGETS if r != profile.role)
    city = _advice_city(db, plan, profile, targets)
    use_city = city is not None
    rows: list[AdviceRow] = []
    subjects = [(role, Filters(roles=(role,))) for role in (() if plan.target_skills and not plan.targets else targets)]
    subjects += [(skill, Filters(skills=(skill,))) for skill in plan.target_skills]
    recent = _recent_years(db)
    for role, subject in subjects:
        subject, recent_count = _target_subject(db, subject, city if use_city else None, recent)
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
            examples=fig.examples(db, subject, limit=1), filters=subject.describe(), subject=subject,
            recent=recent, recent_count=recent_count, source=counted.source,
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
    current = profile.title or (
        role_label(profile.role, lang) if profile.role else ("your role" if lang == "en" else "当前岗位")
    )
    pay = (
        f"{profile.monthly_pay:,.0f} CNY/month"
        if profile.monthly_pay
        else ("pay not given" if lang == "en" else "未提供薪资")
    )
    if profile.monthly_pay and lang == "zh":
        pay = f"月薪 {profile.monthly_pay:,.0f} 元"
    where = ""
    if use_city and city:
        known = canonical_city(city)
        where = f" in {city}" if lang == "en" else f"（{known.zh if known else city}）"
    if plan.targets_named:
        names = [role_label(r, lang) for r in plan.targets] + list(plan.target_skills)
        toward = (" / ".join(names) + " roles") if lang == "en" else ("、".join(names) + "岗位")
    else:
        toward = "AI roles" if lang == "en" else "AI岗位"
    named = ", ".join(profile.skills)  # the skills the asker named, if any: "you already have" is against them
    return rows[:4], {"current": current, "pay": pay, "where": where, "toward": toward, "skills": named}
