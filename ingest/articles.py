"""Articles (.txt .md .html .pdf) to paragraph-aware chunks with title, source and position."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

from assistant.errors import InputFileError
from assistant.schema import Article, Chunk
from ingest.postings import content_id
from ingest.readers import decode_text, strip_controls

#: ~150 English tokens: inside the model's 256-token window with room for the title prefix, and small
#: enough that BM25 scores one topic at a time (900 mixed topics: fact recall@5 13/18 vs 14/18 on eval/).
MAX_CHUNK_CHARS = 650
#: Paragraphs shorter than this are merged with their neighbours rather than embedded alone.
MIN_CHUNK_CHARS = 250

# Web-page furniture that scraped articles carry; dropped only when it stands alone on a line.
_BOILERPLATE = re.compile(
    r"^(skip to (main )?content|advertisement|sign in|log in|subscribe|share( this)?|menu|search|"
    r"no comments|by .{0,40}\d{4}\s*no comments|cookie.*|accept( all)?( cookies)?)$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def read_article(path: Path, data: bytes, display: str, encoding: str | None = None) -> Article:
    """Extract the title and clean text of one article file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text = _pdf_text(data, display)
    else:
        text, _ = decode_text(data, display, encoding)
        if suffix in (".html", ".htm"):
            text = _html_text(text)
        elif suffix == ".md":
            text = _markdown_text(text)
    text = strip_controls(text)  # after HTML unescaping: an escaped control character is one too
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if not _BOILERPLATE.match(line)]
    clean = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(clean) < 20:
        raise InputFileError(display, "no article text found (fewer than 20 characters after cleaning)")
    title = next((line for line in lines if line), path.stem)
    if len(title) > 120:
        title = title[:120].rsplit(" ", 1)[0] + "…"
    return Article(article_id=content_id("article", clean), source_file=display, title=title, text=clean)


def chunk_article(article: Article) -> list[Chunk]:
    """Split at paragraphs; split long paragraphs at sentence ends; merge short neighbours."""
    pieces: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", article.text)):
        if not paragraph:
            continue
        paragraph = re.sub(r"\s*\n\s*", " ", paragraph)
        if len(paragraph) <= MAX_CHUNK_CHARS:
            pieces.append(paragraph)
        else:
            pieces.extend(_split_sentences(paragraph))
    merged: list[str] = []
    for piece in pieces:
        if (
            merged
            and (len(merged[-1]) < MIN_CHUNK_CHARS or len(piece) < MIN_CHUNK_CHARS // 2)
            and (len(merged[-1]) + len(piece) + 1 <= MAX_CHUNK_CHARS)
        ):
            merged[-1] = f"{merged[-1]}\n{piece}"
        else:
            merged.append(piece)
    return [
        Chunk(
            chunk_id=content_id(article.source_file, str(position), text),
            article_id=article.article_id,
            source_file=article.source_file,
            title=article.title,
            position=position,
            text=text,
        )
        for position, text in enumerate(merged)
    ]


def _split_sentences(paragraph: str) -> list[str]:
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s.strip()]
    out: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > MAX_CHUNK_CHARS:  # a "sentence" with no end mark: cut at a space
            cut = sentence.rfind(" ", 0, MAX_CHUNK_CHARS)
            cut = cut if cut > MAX_CHUNK_CHARS // 2 else MAX_CHUNK_CHARS
            out.extend([current] if current else [])
            current = ""
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + len(sentence) + 1 > MAX_CHUNK_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


def _markdown_text(text: str) -> str:
    text = re.sub(r"^#{1,6}\s*", "", text, flags=re.MULTILINE)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # links keep their words
    return re.sub(r"[*_`]{1,3}([^*_`]+)[*_`]{1,3}", r"\1", text)


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "form", "svg"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"[ \t]+", " ", text)


def _pdf_text(data: bytes, display: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise InputFileError(display, f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise InputFileError(display, "PDF has no text layer (a scanned image?); nothing to index")
    return text
