"""The domain study's raw data: TICO-19's zipped TMX files, Tatoeba's line-aligned pairs, and the
train / test split by whole documents."""

import re
import zipfile
from collections import Counter

import pytest

from hybridbatch.core.errors import DataError
from hybridbatch.data.formats.tatoeba import TATOEBA_CODES, pair_files, read_pair
from hybridbatch.data.formats.tico19 import TICO_CODES, read_corpus, read_tmx
from hybridbatch.data.splits import blocks, split_documents

from conftest import FIXTURES, MIRROR

TMX = {"fr": FIXTURES / "tico19" / "all.en-fr.tmx", "es": FIXTURES / "tico19" / "all.en-es-LA.tmx"}


def zipped(folder, lang, text=None):
    """The fixture of `lang` (or `text`) as TICO-19 ships it: all.en-{code}.tmx inside a zip."""
    name = f"all.en-{TICO_CODES[lang]}.tmx"
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, TMX[lang].read_text(encoding="utf-8") if text is None else text)
    return path


def test_a_tmx_file_gives_its_units_in_order(tmp_path):
    units = read_tmx(zipped(tmp_path, "fr"), "fr")
    assert list(units) == ["CMU_1:1", "CMU_1:2", "PubMed_6:1", "PubMed_6:2", "PubMed_7:1", "Wikinews_1:1"]
    assert units["CMU_1:2"] == ("and any fever?", "et de la fièvre ?")  # whitespace runs collapsed
    assert units["PubMed_7:1"][0] == "Masks reduce transmission & spread."


def test_the_corpus_is_parallel_with_documents_and_domains(tmp_path):
    corpus = read_corpus({lang: zipped(tmp_path, lang) for lang in TMX})
    assert set(corpus.texts) == {"en", "es", "fr"}
    # English from the first language's file (es): its sides may differ from fr's by a space.
    assert corpus.texts["en"]["CMU_1:1"] == "how long have you had the cough ?"
    assert corpus.texts["es"]["PubMed_6:2"] == "La incubación dura unos cinco días."
    assert corpus.documents["PubMed_6:2"] == "PubMed_6"
    assert Counter(corpus.domain(tuid) for tuid in corpus.tuids) == {"scientific": 3, "conversational": 2, "news": 1}


def test_tico19_as_published_has_the_documented_domains():
    files = {lang: MIRROR / "tico19" / f"all.en-{code}.tmx.zip" for lang, code in TICO_CODES.items()}
    corpus = read_corpus(files)
    assert len(corpus.tuids) == 3071 and set(corpus.texts) == {"en", *TICO_CODES}
    sentences = Counter(corpus.domain(tuid) for tuid in corpus.tuids)
    assert sentences == {"encyclopedic": 1538, "scientific": 939, "travel": 243, "conversational": 141, "wikisource": 122, "news": 88}
    documents = Counter(corpus.domain(tuid) for tuid in {corpus.documents[t]: t for t in corpus.tuids}.values())
    assert documents["scientific"] == 6 and documents["news"] == 6 and documents["conversational"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text[: text.index('<tu tuid="PubMed_6:2">') + 30], r"not well-formed TMX at line \d+, column \d+"),
        (lambda text: text.replace("<seg>and   any fever?</seg>", "<seg>  </seg>"), r"tu CMU_1:2: empty en segment"),
        (lambda text: text.replace('tuid="PubMed_7:1"', 'tuid="PubMed_6:1"'), r"tu PubMed_6:1: the tuid appears twice"),
        (lambda text: text.replace('<tuv xml:lang="fr"><seg>La ville', '<tuv xml:lang="de"><seg>La ville'), r"tu Wikinews_1:1: 0 fr segments"),
    ],
    ids=["truncated", "empty segment", "duplicate tuid", "no translation"],
)
def test_a_broken_tmx_file_is_named_with_the_record(tmp_path, edit, message):
    path = zipped(tmp_path, "fr", edit(TMX["fr"].read_text(encoding="utf-8")))
    with pytest.raises(DataError, match=rf"^{path}.*{message}"):
        read_tmx(path, "fr")


def test_a_tuid_missing_from_one_language_is_named(tmp_path):
    spanish = TMX["es"].read_text(encoding="utf-8")
    start = spanish.index('<tu tuid="PubMed_6:2">')
    files = {"es": zipped(tmp_path, "es", spanish[:start] + spanish[spanish.index("</tu>", start) + 5 :]), "fr": zipped(tmp_path, "fr")}
    with pytest.raises(DataError, match=rf"^{files['fr']}: tuid PubMed_6:2 .* is not in {files['es']}"):
        read_corpus(files)


def test_a_document_without_a_known_domain_is_refused(tmp_path):
    files = {lang: zipped(tmp_path, lang, TMX[lang].read_text(encoding="utf-8").replace("Wikinews_1", "Blog_1")) for lang in TMX}
    with pytest.raises(DataError, match=r"document 'Blog_1' has no known domain"):
        read_corpus(files)


def test_documents_never_straddle_the_split():
    sizes = {f"doc{i}": size for i, size in enumerate([44, 276, 329, 64, 199, 27, 12, 80])}
    train, test = split_documents(sizes, 0.5, seed=0)
    assert not set(train) & set(test) and set(train) | set(test) == set(sizes)
    held = sum(sizes[d] for d in test)
    assert held >= 0.5 * sum(sizes.values())
    # Without its last document the test split would hold less than asked: no more is taken.
    assert held - max(sizes[d] for d in test) < 0.5 * sum(sizes.values()) or len(test) == 1
    assert split_documents(sizes, 0.5, seed=0) == (train, test)
    assert any(split_documents(sizes, 0.5, seed=s)[1] != test for s in range(1, 6))
    assert split_documents({"only": 141}, 0.3, seed=0) == ([], ["only"])


def test_a_tatoeba_pair_is_line_aligned(tmp_path):
    translation, english = (FIXTURES / "tatoeba" / name for name in pair_files("de"))
    assert read_pair(translation, english)[1] == ("Ich bin müde.", "I am tired.")
    short = tmp_path / "tatoeba.deu-eng.eng"
    short.write_text("Tom needs water.\nI am tired.\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{translation} has 3 lines but {short} has 2"):
        read_pair(translation, short)
    gap = tmp_path / "tatoeba.deu-eng.deu"
    gap.write_text("Tom braucht Wasser.\n \nWo ist der Bahnhof?\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{gap}: line 2: empty sentence"):
        read_pair(gap, english)


def test_tatoeba_as_published_has_1000_pairs_per_language_but_thai():
    counts = {lang: len(read_pair(*(MIRROR / "tatoeba" / name for name in pair_files(lang)))) for lang in TATOEBA_CODES}
    assert counts == {lang: 548 if lang == "th" else 1000 for lang in TATOEBA_CODES}  # LASER has 548 Thai pairs


def test_blocks_count_consecutive_sentences_of_each_document():
    assert blocks(["a", "a", "a", "b", "b"], 2) == ["a#0", "a#0", "a#1", "b#0", "b#0"]


def test_the_tico19_dialogue_has_lost_its_turn_order():
    """The doctor-patient dialogue (CMU_1) comes sorted by its letters, not in the order its turns
    were said, so no next-turn benchmark can be built from it (docs/domains.md); the other
    documents keep their order."""
    files = {lang: MIRROR / "tico19" / f"all.en-{code}.tmx.zip" for lang, code in TICO_CODES.items()}
    corpus = read_corpus(files)

    def letters(text):
        return re.sub(r"[^0-9a-z]", "", text.lower())

    def document(name):
        return [corpus.texts["en"][tuid] for tuid in corpus.tuids if corpus.documents[tuid] == name]

    assert document("CMU_1") == sorted(document("CMU_1"), key=letters)
    for name in ("PubMed_10", "Wikinews_1", "wiki_9"):
        assert document(name) != sorted(document(name), key=letters), name
