"""mMARCO read from its files: the fixture copies the hub repository's layout (tests/fixtures/mmarco),
read through the same code path config/paper.yaml uses for hf://datasets/unicamp-dl/mmarco, with the
fixture's folder in place of the hub prefix."""

import copy
import shutil

import pytest

from hybridbatch.config import check, load_yaml
from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.data.formats import idtriples
from hybridbatch.data.sources import load_source_pairs

from conftest import FIXTURES, REPOSITORY

FIXTURE = FIXTURES / "mmarco"
FIXTURE_LANGUAGES = {"en": "english", "de": "german", "zh": "chinese"}


def paper_source(root, max_rows=30):
    """config/paper.yaml's mMARCO source, reading `root` for the languages the fixture has."""
    source = copy.deepcopy(load_yaml(REPOSITORY / "config" / "paper.yaml")["sources"]["mmarco"])
    assert source["path"] == "hf://datasets/unicamp-dl/mmarco"
    source.update(path=str(root), max_rows=max_rows)
    source["languages"] = {lang: {"name": name} for lang, name in FIXTURE_LANGUAGES.items()}
    return source


def by_id(path):
    """An independent reading of an `id \\t text` file."""
    return dict(line.split("\t") for line in path.read_text(encoding="utf-8").splitlines())


def test_the_fixture_holds_every_file_the_paper_config_names():
    source = paper_source(FIXTURE)
    named = {source["id_triples"]["triples"]}
    for fields in source["languages"].values():
        named |= {source["id_triples"][key].format(**fields) for key in ("queries", "collection")}
    assert sorted(named) == sorted(str(p.relative_to(FIXTURE)) for p in FIXTURE.rglob("*.tsv"))


@pytest.mark.parametrize("prefix", ["", "file://"])
def test_the_first_triples_become_row_aligned_pairs(prefix):
    pairs = load_source_pairs("mmarco", paper_source(f"{prefix}{FIXTURE}", max_rows=30)).to_pandas()
    assert sorted(pairs["lang"].unique()) == ["de", "en", "zh"]
    assert (pairs.groupby("lang").size() == 30).all()
    triples = [line.split("\t") for line in (FIXTURE / "data" / "triples.train.ids.small.tsv").read_text().splitlines()]
    for lang, name in FIXTURE_LANGUAGES.items():
        queries = by_id(FIXTURE / "data" / "google" / "queries" / "train" / f"{name}_queries.train.tsv")
        passages = by_id(FIXTURE / "data" / "google" / "collections" / f"{name}_collection.tsv")
        rows = pairs[pairs["lang"] == lang]
        assert rows["group_id"].tolist() == [str(n) for n in range(30)]
        assert rows["query"].tolist() == [queries[q] for q, _, _ in triples[:30]]
        assert rows["positive"].tolist() == [passages[p] for _, p, _ in triples[:30]]
        assert [list(n) for n in rows["hard_negatives"]] == [[passages[n]] for _, _, n in triples[:30]]
    # Row 1 of every language is the second triple (query 25299, passages 369 and 4561), translated.
    second = pairs[pairs["group_id"] == "1"].set_index("lang")
    assert second.loc["en", "query"] == "how far is the comet of fact 0 from the coast"
    assert second.loc["de", "positive"].startswith("Abschnitt 369: der/die Komet in „Fakt 0“")
    assert second.loc["zh", "hard_negatives"][0].startswith("第4561段")
    # The conflict key is the English positive in every language: triples 0 and 1 share query and
    # positive and never meet in a batch.
    keys = pairs.set_index(["lang", "group_id"])["conflict_key"]
    assert keys["zh", "0"] == keys["de", "1"] == keys["en", "0"] == second.loc["en", "positive"]


def test_files_are_read_only_as_far_as_the_triples_need(tmp_path):
    root = tmp_path / "mmarco"
    shutil.copytree(FIXTURE, root)
    # Past the 10th triple and past the last passage and query those triples need, every file is
    # broken: a reader that goes further fails.
    triples = root / "data" / "triples.train.ids.small.tsv"
    lines = triples.read_text().splitlines(keepends=True)
    triples.write_bytes("".join(lines[:10]).encode() + b"\xff not a triple\n")
    needed = {field for line in lines[:10] for field in line.split()}
    for path in (root / "data" / "google").rglob("*.tsv"):
        kept = path.read_bytes().splitlines(keepends=True)
        last = max(number for number, line in enumerate(kept) if line.split(b"\t")[0].decode() in needed)
        path.write_bytes(b"".join(kept[: last + 1]) + b"\xff broken\n")
    pairs = load_source_pairs("mmarco", paper_source(root, max_rows=10)).to_pandas()
    assert len(pairs) == 30
    with pytest.raises(DataError, match=r"triples.train.ids.small.tsv, line 11: not UTF-8 text"):
        load_source_pairs("mmarco", paper_source(root, max_rows=11))


@pytest.mark.parametrize("chunk", [1, 3, 4 << 20])
def test_lines_are_split_alike_whatever_the_chunks_and_line_ends(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(idtriples, "CHUNK", chunk)
    (tmp_path / "crlf.tsv").write_bytes("7\tKöln\r\n12\tzwölf\r\n3\tdrei".encode())  # no final line end
    assert idtriples.read_texts(str(tmp_path / "crlf.tsv"), {"3", "12"}) == {"12": "zwölf", "3": "drei"}
    (tmp_path / "triples.tsv").write_bytes(b"1\t2\t3\n4\t5\t6")
    assert idtriples.read_triples(str(tmp_path / "triples.tsv"), 5) == [("1", "2", "3"), ("4", "5", "6")]
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.tsv: no triples"):
        idtriples.read_triples(str(tmp_path / "empty.tsv"), 5)


def broken_copy(tmp_path, relative, change):
    root = tmp_path / "mmarco"
    shutil.copytree(FIXTURE, root)
    path = root / relative
    path.write_bytes(change(path.read_bytes()))
    return root


GERMAN_PASSAGES = "data/google/collections/german_collection.tsv"


def test_a_passage_missing_in_one_language_is_named(tmp_path):
    root = broken_copy(tmp_path, GERMAN_PASSAGES, lambda data: b"".join(data.splitlines(keepends=True)[1:]))
    triples = [line.split("\t") for line in (FIXTURE / "data" / "triples.train.ids.small.tsv").read_text().splitlines()[:30]]
    needed = len({passage for _, positive, negative in triples for passage in (positive, negative)})
    with pytest.raises(DataError, match=rf"german_collection.tsv: 1 of the {needed} ids the triples need are missing \(e.g. 369\)"):
        load_source_pairs("mmarco", paper_source(root))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data.replace(b"369\t", b"369 ", 1), r"german_collection.tsv, line 1: expected an id and a text separated by a tab"),
        (lambda data: data.replace(b"Komet", b"Kom\xe9t", 1), r"german_collection.tsv, line 1: not UTF-8 text \(invalid continuation byte"),
        (lambda data: data.replace(b"369\tAbschnitt", b"369\t \r\n0\tAbschnitt", 1), r"german_collection.tsv, line 1: id 369 has an empty text"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path, change, message):
    root = broken_copy(tmp_path, GERMAN_PASSAGES, change)
    with pytest.raises(DataError, match=message):
        load_source_pairs("mmarco", paper_source(root))


def test_a_missing_file_is_named(tmp_path):
    source = paper_source(FIXTURE)
    source["languages"]["de"] = {"name": "deutsch"}
    with pytest.raises(DataError, match=r"mmarco/data/google/queries/train/deutsch_queries.train.tsv: cannot be read: FileNotFoundError"):
        load_source_pairs("mmarco", source)


def test_the_config_refuses_what_id_triples_cannot_use(default_config, schema):
    config = copy.deepcopy(default_config)
    config["sources"]["mmarco"] = paper_source(FIXTURE)
    config["experiments"]["xquad_r"]["train_sources"].append("mmarco")
    check(config, schema)
    source = config["sources"]["mmarco"]
    source.update(revision="main", split="train", max_rows=None)
    source["id_triples"]["queries"] = "data/queries.train.tsv"
    source["languages"]["de"] = {"data_dir": "german"}
    source["columns"].update(group_id="query", positive="passage")
    with pytest.raises(ConfigError) as refused:
        check(config, schema)
    assert str(refused.value).splitlines()[1:] == [
        "  sources.mmarco.max_rows: id_triples reads the first max_rows triples; set it",
        (
            "  sources.mmarco.split: a load_dataset setting, unused with id_triples (files are streamed; a hub revision "
            "goes into the path: hf://datasets/<owner>/<name>@<revision>)"
        ),
        (
            "  sources.mmarco.revision: a load_dataset setting, unused with id_triples (files are streamed; a hub revision "
            "goes into the path: hf://datasets/<owner>/<name>@<revision>)"
        ),
        "  sources.mmarco.id_triples.queries: one file for every language; name the language's field in it, e.g. {name}",
        (
            "  sources.mmarco.id_triples.collection: 'data/google/collections/{name}_collection.tsv' cannot be filled from "
            "languages.de ({'data_dir': 'german'}): KeyError('name')"
        ),
        "  sources.mmarco.columns.positive: 'passage' is not a column of id triples (query, positive, negative)",
        "  sources.mmarco.columns.group_id: id triples are row-aligned across languages; leave it null",
    ]
    source.update(max_rows=10, id_triples={**source["id_triples"], "collection": "{name.nothing}.tsv"})
    for key in ("revision", "split"):
        del source[key]
    source["languages"]["de"] = {"name": "german"}
    source["columns"].update(group_id=None, positive="positive")
    source["id_triples"]["queries"] = "{name}.tsv"
    with pytest.raises(ConfigError) as refused:
        check(config, schema)
    assert str(refused.value).splitlines()[1:] == [
        f"  sources.mmarco.id_triples.collection: '{{name.nothing}}.tsv' cannot be filled from languages.{lang} ({{'name': '{name}'}}): "
        "AttributeError(\"'str' object has no attribute 'nothing'\")"
        for lang, name in FIXTURE_LANGUAGES.items()
    ]


def test_an_id_given_twice_with_different_texts_names_both_lines(tmp_path):
    root = broken_copy(tmp_path, GERMAN_PASSAGES, lambda data: data.replace(b"614\t", b"369\tAbschnitt doppelt\n614\t", 1))
    with pytest.raises(
        DataError,
        match=r"german_collection.tsv: id 369 is given twice with different texts, line 1: 'Abschnitt 369: .*' and line 2: 'Abschnitt doppelt'; keep one",
    ):
        load_source_pairs("mmarco", paper_source(root))


def test_an_id_given_twice_with_the_same_text_is_read_once(tmp_path):
    first = (FIXTURE / GERMAN_PASSAGES).read_bytes().splitlines(keepends=True)[0]
    root = broken_copy(tmp_path, GERMAN_PASSAGES, lambda data: first + data)
    assert load_source_pairs("mmarco", paper_source(root)).equals(load_source_pairs("mmarco", paper_source(FIXTURE)))


@pytest.mark.parametrize("relative", [GERMAN_PASSAGES, "data/google/queries/train/german_queries.train.tsv", "data/triples.train.ids.small.tsv"])
def test_a_byte_order_mark_is_not_part_of_the_first_id(tmp_path, relative):
    root = broken_copy(tmp_path, relative, lambda data: b"\xef\xbb\xbf" + data)
    assert load_source_pairs("mmarco", paper_source(root)).equals(load_source_pairs("mmarco", paper_source(FIXTURE)))
