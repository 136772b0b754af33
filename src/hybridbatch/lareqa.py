"""Read LAReQA files (XQuAD-R, MLQA-R): SQuAD v1.1 JSON whose paragraphs carry sentence breaks.

A paragraph's sentences are the retrieval candidates; a question's relevant candidate in its
language is the sentence whose [start, end) span holds the answer's `answer_start`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridbatch.errors import DataError


@dataclass(frozen=True)
class Paragraph:
    context_id: str
    sentences: tuple[str, ...]


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


def _sentence_of(offset: int, breaks: list[tuple[int, int]]) -> int | None:
    for index, (start, end) in enumerate(breaks):
        if start <= offset < end:
            return index
    return None


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
            sentences = _field(paragraph, "sentences", list, where)
            raw_breaks = _field(paragraph, "sentence_breaks", list, where)
            if len(sentences) != len(raw_breaks):
                raise DataError(
                    f"{where}: {len(sentences)} sentences but {len(raw_breaks)} sentence_breaks"
                )
            breaks: list[tuple[int, int]] = []
            for s, (sentence, span) in enumerate(zip(sentences, raw_breaks, strict=True)):
                if not isinstance(sentence, str) or not sentence.strip():
                    raise DataError(f"{where}.sentences[{s}]: empty or not a string")
                if (
                    not isinstance(span, list)
                    or len(span) != 2
                    or not all(isinstance(x, int) for x in span)
                    or span[0] >= span[1]
                ):
                    raise DataError(f"{where}.sentence_breaks[{s}]: expected [start, end] with start < end, got {span!r}")
                breaks.append((span[0], span[1]))
            paragraphs.append(Paragraph(context_id, tuple(sentences)))

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
                    raise DataError(
                        f"{where_qa}.answers[0].answer_start: offset {start} falls in no sentence "
                        f"(sentence_breaks cover {breaks[0][0] if breaks else 0}..{breaks[-1][1] if breaks else 0} with gaps)"
                    )
                questions.append(Question(qid, text.strip(), context_id, sentence))
    return LanguageFile(lang, tuple(paragraphs), tuple(questions))
