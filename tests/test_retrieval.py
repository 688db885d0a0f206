"""Retrieval's pure parts: how passages split into sentences, which sentence answers, how lists fuse."""

from __future__ import annotations

from assistant.retrieval import Evidence, fuse_scores, sentence_scores, split_sentences
from assistant.writer import best_sentences


def _chunk(rid: str, score: float, source: str = "a.txt") -> Evidence:
    return Evidence("article", rid, f"text {rid}.", source, f"chunk {rid}", "T", score)


def test_headings_are_not_sentences() -> None:
    text = (
        "These regions are crucial to the sector. The AI Talent Race: Challenges and Opportunities Beyond "
        "China's Tech Giants The global race for talent is more than a competition. Is AI Salary Growth "
        "Sustainable? With postings soaring, questions have arisen. Roles getting the most attention - "
        "Machine learning engineers who can deploy models. - Data engineers who build pipelines."
    )
    assert split_sentences(text) == [
        "These regions are crucial to the sector.",
        "The global race for talent is more than a competition.",
        "With postings soaring, questions have arisen.",
        "Machine learning engineers who can deploy models.",
        "Data engineers who build pipelines.",
    ]


def test_the_article_title_and_a_title_line_are_dropped_but_names_are_kept() -> None:
    text = "A.I. in the Workplace\nChina's AI Job Boom Spurs Growth After DeepSeek Success In recent months, pay rose."
    assert split_sentences(text, "A.I. in the Workplace") == ["In recent months, pay rose."]
    named = "Oliver Hayman, VP of Strategic Partnerships at AMPLYFI, expressed delight at the report."
    assert split_sentences(named) == [named]
    assert split_sentences("Only A Heading Here") == ["Only A Heading Here"]  # nothing else to keep


def test_meaning_decides_when_no_word_is_shared() -> None:
    sentences = ["Xiaomi and Baidu are hiring AI specialists.", "The weather was mild."]
    question = "哪些公司在招人工智能专家？"
    plain = sentence_scores(sentences, question)
    assert plain[0] == plain[1]  # a Chinese question shares no word with either English sentence
    scored = sentence_scores(sentences, question, similarity=(0.45, 0.05))
    assert scored[0] > scored[1]
    text = " ".join(reversed(sentences))
    assert best_sentences(text, question, limit=40, similarity=(0.05, 0.45)).startswith("Xiaomi and Baidu")


def test_an_amount_question_prefers_the_sentence_with_the_number() -> None:
    text = "Demand for NLP talent grew fast. Salaries averaged 24,007 yuan a month for NLP roles."
    assert best_sentences(text, "How much do NLP roles pay?", limit=60).startswith("Salaries averaged 24,007")


def test_a_sentence_that_gives_the_kind_of_answer_asked_for_outranks_one_that_restates_the_question() -> None:
    restates = "The race for AI talent is a competition among Chinese tech giants."
    names = "Prominent players like ByteDance, Baidu and Meituan are expanding their AI teams."
    assert best_sentences(f"{restates} {names}", "Which tech giants compete for AI talent?", limit=90) == names
    assert best_sentences(f"{restates} {names}", "哪些科技巨头在争夺AI人才？", limit=90) == names
    # "Why ... shortage?": a sentence saying there is a shortage names no cause; one with its own cause does.
    shortage = "China faces a critical shortage of skilled AI talent."
    cause = "Universities cannot keep up, so the pool of qualified candidates remains insufficient."
    why = sentence_scores([shortage, cause], "Why does China face an AI talent shortage?")
    assert why[1] > why[0]
    roles = "Firms now hire machine learning engineers and data engineers."
    generic = "AI hiring is popular in China this year."
    assert best_sentences(f"{generic} {roles}", "哪些AI岗位最受欢迎？", limit=60) == roles
    # Without a "which/why" question nothing changes: the sentence sharing more words still leads.
    plain = sentence_scores([restates, names], "Tell me about the competition for AI talent among tech giants")
    assert plain[0] > plain[1]


def test_a_lexical_list_with_no_share_leaves_the_dense_order() -> None:
    dense = [_chunk("1", 0.6, "a.txt"), _chunk("2", 0.5, "b.txt"), _chunk("3", 0.4, "c.txt")]
    lexical = [_chunk("3", 9.0, "c.txt"), _chunk("2", 5.0, "b.txt")]
    assert [e.record_id for e in fuse_scores(dense, lexical, 3, lexical_share=0.0)] == ["1", "2", "3"]
    assert [e.record_id for e in fuse_scores(dense, lexical, 3, lexical_share=0.8)][0] == "3"
