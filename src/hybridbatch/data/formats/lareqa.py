"""Read LAReQA files (XQuAD-R, MLQA-R): SQuAD v1.1 JSON whose paragraphs carry sentence breaks.

A paragraph's sentences are the retrieval candidates; a question's relevant candidate in its
language is the sentence whose [start, end) span holds the answer's `answer_start`.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridbatch.core.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Paragraph:
    context_id: str
    sentences: tuple[str, ...]
    article: str  # `{lang}:{index}` of its article in the file


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    context_id: str
    answer_sentence: int  # index into the paragraph's sentences


@dataclass(frozen=True)
class LanguageFile:
    lang: str
    paragraphs: tuple[Paragraph, ...]
    questions: tuple[Question, ...]


def _field(record: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if not isinstance(record, dict) or name not in record:
        raise DataError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(f"{where}.{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


# The smallest similarity (difflib ratio) between a sentence and its span of the context that is
# taken as a drift rather than a wrong break. The published XQuAD-R tr.json has two spans shifted by
# two characters (ratio .98, a mis-encoded fraction slash in the context); a break pointing at the
# next sentence scored at most .86 over all 27,262 neighbouring sentences of the published files.
SPAN_SIMILARITY = 0.9


def _sentence_of(offset: int, breaks: list[tuple[int, int]]) -> int | None:
    for index, (start, end) in enumerate(breaks):
        if start <= offset < end:
            return index
    return None


def _not_in_a_sentence(offset: int, breaks: list[tuple[int, int]]) -> str:
    if not breaks:
        return f"offset {offset}: the paragraph has no sentences"
    low, high = breaks[0][0], breaks[-1][1]
    if not low <= offset < high:
        return f"offset {offset} lies outside the sentences, which cover characters {low}..{high}"
    return f"offset {offset} falls in no sentence: it lies in a gap between sentence_breaks (they cover {low}..{high})"


def _checked_breaks(paragraph: dict[str, Any], where: str) -> tuple[tuple[str, ...], list[tuple[int, int]]]:
    """The paragraph's sentences and their [start, end) spans, which must be ordered, must not
    overlap, must lie inside the context and must hold their sentence."""
    context = _field(paragraph, "context", str, where)
    sentences = _field(paragraph, "sentences", list, where)
    raw_breaks = _field(paragraph, "sentence_breaks", list, where)
    if len(sentences) != len(raw_breaks):
        raise DataError(f"{where}: {len(sentences)} sentences but {len(raw_breaks)} sentence_breaks")
    breaks: list[tuple[int, int]] = []
    for s, (sentence, span) in enumerate(zip(sentences, raw_breaks, strict=True)):
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"{where}.sentences[{s}]: empty or not a string")
        breaks.append(_checked_span(context, sentence, span, breaks[-1][1] if breaks else 0, f"{where}.sentence_breaks[{s}]"))
    return tuple(sentences), breaks


def _checked_span(context: str, sentence: str, span: Any, previous_end: int, where: str) -> tuple[int, int]:
    """One sentence's [start, end) span: two integers, after the previous sentence's end, inside
    the context, holding the sentence (nearly: a slightly different span is kept with a warning)."""
    if not isinstance(span, list) or len(span) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in span) or not 0 <= span[0] < span[1]:
        raise DataError(f"{where}: expected [start, end] with 0 <= start < end, got {span!r}")
    start, end = span
    if start < previous_end:
        raise DataError(f"{where}: {span!r} starts before the previous sentence ends at {previous_end} (breaks must be in order and must not overlap)")
    if end > len(context):
        raise DataError(f"{where}: {span!r} ends beyond the context ({len(context)} characters)")
    held = context[start:end]
    if held.strip() != sentence.strip():
        similarity = difflib.SequenceMatcher(None, held, sentence, autojunk=False).ratio()
        if similarity < SPAN_SIMILARITY:
            raise DataError(f"{where}: context[{start}:{end}] is {held[:60]!r}, not the sentence {sentence[:60]!r} (similarity {similarity:.2f})")
        log.warning("%s: span differs slightly from its sentence (similarity %.2f); kept", where, similarity)
    return start, end


def read_language_file(path: str | os.PathLike[str], lang: str) -> LanguageFile:
    """Parse one LAReQA language file; any defect raises DataError naming the file and record."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text at byte {error.start}") from None

    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    seen: set[str] = set()
    for a, article in enumerate(_field(document, "data", list, str(path))):
        where_article = f"{path}: data[{a}]"
        for p, paragraph in enumerate(_field(article, "paragraphs", list, where_article)):
            where = f"{where_article}.paragraphs[{p}]"
            context_id = f"{lang}:{len(paragraphs)}"
            sentences, breaks = _checked_breaks(paragraph, where)
            paragraphs.append(Paragraph(context_id, sentences, f"{lang}:{a}"))

            for q, qa in enumerate(_field(paragraph, "qas", list, where)):
                where_qa = f"{where}.qas[{q}]"
                qid = _field(qa, "id", str, where_qa)
                where_qa = f"{where_qa} (id {qid})"
                if qid in seen:
                    raise DataError(f"{where_qa}: question id appears twice in this file")
                seen.add(qid)
                text = _field(qa, "question", str, where_qa)
                if not text.strip():
                    raise DataError(f"{where_qa}.question: empty question")
                answers = _field(qa, "answers", list, where_qa)
                if not answers:
                    raise DataError(f"{where_qa}.answers: no answer")
                start = _field(answers[0], "answer_start", int, f"{where_qa}.answers[0]")
                sentence = _sentence_of(start, breaks)
                if sentence is None:
                    raise DataError(f"{where_qa}.answers[0].answer_start: {_not_in_a_sentence(start, breaks)}")
                questions.append(Question(qid, text.strip(), context_id, sentence))
    return LanguageFile(lang, tuple(paragraphs), tuple(questions))
