"""Read TICO-19: zipped TMX translation memories, one per language paired with English, 9-way
parallel by `tuid` (`{document}:{sentence}`). The document name gives the domain."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from hybridbatch.core.errors import DataError

# TICO-19's code for each language this project names by ISO 639-1 (its files: all.en-{code}.tmx.zip).
TICO_CODES = {"ar": "ar", "es": "es-LA", "fr": "fr", "hi": "hi", "id": "id", "pt": "pt-BR", "ru": "ru", "zh": "zh"}
# Document name prefix -> domain (the sources TICO-19 translated).
DOMAIN_PREFIXES = {
    "PubMed_": "scientific",
    "CMU_": "conversational",  # a doctor-patient dialogue
    "Wikinews_": "news",
    "Wikipedia_handpicked_": "encyclopedic",
    "wiki_": "encyclopedic",
    "Wikivoyage_": "travel",
    "Wikisource_": "wikisource",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def file_name(lang: str) -> str:
    """The file of a language (paired with English), as TICO-19 names it."""
    return f"all.en-{TICO_CODES[lang]}.tmx.zip"


def document_of(tuid: str, where: str) -> str:
    document, separator, sentence = tuid.rpartition(":")
    if not separator or not document or not sentence:
        raise DataError(f"{where}: tuid {tuid!r} is not '{{document}}:{{sentence}}'")
    return document


def domain_of(document: str, where: str) -> str:
    for prefix, domain in DOMAIN_PREFIXES.items():
        if document.startswith(prefix):
            return domain
    raise DataError(f"{where}: document {document!r} has no known domain (known prefixes: {', '.join(DOMAIN_PREFIXES)})")


def _segment(unit: ElementTree.Element, lang: str, where: str) -> str:
    texts = [tuv.findtext("seg") for tuv in unit.iter("tuv") if tuv.get(XML_LANG) == lang]
    if len(texts) != 1:
        raise DataError(f"{where}: {len(texts)} {lang} segments, expected 1")
    text = " ".join((texts[0] or "").split())
    if not text:
        raise DataError(f"{where}: empty {lang} segment")
    return text


def read_tmx(path: str | os.PathLike[str], code: str) -> dict[str, tuple[str, str]]:
    """tuid -> (English, translation) of one zipped TMX file whose translation language is `code`
    (TICO-19's code, e.g. "es-LA"), in file order; whitespace runs become one space."""
    path = Path(path)
    units: dict[str, tuple[str, str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.endswith(".tmx")]
            if len(members) != 1:
                raise DataError(f"{path}: {len(members)} .tmx files inside, expected 1")
            with archive.open(members[0]) as stream:
                for _, unit in ElementTree.iterparse(stream):
                    if unit.tag != "tu":
                        continue
                    tuid = unit.get("tuid")
                    where = f"{path} ({members[0]}), tu {tuid}"
                    if not tuid:
                        raise DataError(f"{path} ({members[0]}): a <tu> without tuid after tu {next(reversed(units), 'none')}")
                    if tuid in units:
                        raise DataError(f"{where}: the tuid appears twice")
                    units[tuid] = (_segment(unit, "en", where), _segment(unit, code, where))
                    unit.clear()
    except ElementTree.ParseError as error:
        line, column = error.position
        raise DataError(f"{path}: not well-formed TMX at line {line}, column {column}: {error}") from None
    except zipfile.BadZipFile as error:
        raise DataError(f"{path}: not a zip archive ({error})") from None
    if not units:
        raise DataError(f"{path}: no translation units")
    return units


@dataclass(frozen=True)
class Corpus:
    """The parallel sentences: `tuids` in file order, each one's document, and the text of each
    language (English included) by tuid."""

    tuids: tuple[str, ...]
    documents: Mapping[str, str]
    texts: Mapping[str, Mapping[str, str]]  # lang -> tuid -> sentence

    def domain(self, tuid: str) -> str:
        return domain_of(self.documents[tuid], tuid)


def read_corpus(files: Mapping[str, str | os.PathLike[str]]) -> Corpus:
    """The corpus from one file per language (ISO code -> its all.en-{TICO code}.tmx.zip). Every
    file must hold the same tuids; English comes from the first language's file (the English sides
    of the files differ by a character or a space here and there)."""
    if not files:
        raise DataError("TICO-19: no language files")
    read = {lang: read_tmx(path, TICO_CODES[lang]) for lang, path in sorted(files.items())}
    first = next(iter(read))
    tuids = tuple(read[first])
    for lang, units in read.items():
        if missing := [tuid for tuid in tuids if tuid not in units]:
            raise DataError(f"{files[lang]}: tuid {missing[0]} (and {len(missing) - 1} more) of {files[first]} is missing")
        if extra := [tuid for tuid in units if tuid not in read[first]]:
            raise DataError(f"{files[lang]}: tuid {extra[0]} (and {len(extra) - 1} more) is not in {files[first]}")
    documents = {tuid: document_of(tuid, str(files[first])) for tuid in tuids}
    for tuid, document in documents.items():
        domain_of(document, f"{files[first]}, tu {tuid}")
    texts = {"en": {tuid: english for tuid, (english, _) in read[first].items()}}
    texts |= {lang: {tuid: translation for tuid, (_, translation) in units.items()} for lang, units in read.items()}
    return Corpus(tuids, documents, texts)
