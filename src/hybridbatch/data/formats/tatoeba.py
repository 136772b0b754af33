"""Read LASER's Tatoeba test set: per language, 1,000 sentences (548 for Thai) line-aligned with their English
translations (tatoeba.{xxx}-eng.{xxx} and tatoeba.{xxx}-eng.eng; the English sides differ between
languages)."""

from __future__ import annotations

import os
from pathlib import Path

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import text_lines

# Tatoeba's ISO 639-3 code for each language this project names by ISO 639-1.
TATOEBA_CODES = {
    "ar": "ara",
    "de": "deu",
    "el": "ell",
    "es": "spa",
    "hi": "hin",
    "ru": "rus",
    "th": "tha",
    "tr": "tur",
    "vi": "vie",
    "zh": "cmn",
}


def pair_files(lang: str) -> tuple[str, str]:
    """The file names of a language's pair with English: (its side, the English side)."""
    code = TATOEBA_CODES[lang]
    return f"tatoeba.{code}-eng.{code}", f"tatoeba.{code}-eng.eng"


def _sentences(path: Path) -> list[str]:
    lines = text_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}: line {number}: empty sentence")
    return [" ".join(line.split()) for line in lines]


def read_pair(translation: str | os.PathLike[str], english: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(sentence, its English translation) for every line of a language's pair of files."""
    translation, english = Path(translation), Path(english)
    left, right = _sentences(translation), _sentences(english)
    if len(left) != len(right):
        raise DataError(f"{translation} has {len(left)} lines but {english} has {len(right)}: the pair must be line-aligned")
    return list(zip(left, right, strict=True))
