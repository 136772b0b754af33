"""Training sources loaded with Hugging Face `datasets.load_dataset`, on local parquet and JSON lines
files in the layouts the hub configs of config/paper.yaml point at."""

import json

import pandas as pd
import pytest

from hybridbatch.core.errors import DataError
from hybridbatch.data.sources import load_source_pairs

TRIPLES = {
    "en": [
        ("what is a comet?", "A comet is an icy body.", "A planet orbits a star."),
        ("who built the bridge?", "The bridge was built by Roebling.", "The tunnel is long."),
        ("what is a comet made of?", "A comet is an icy body.", "Comets have tails."),
    ],
    "de": [
        ("was ist ein Komet?", "Ein Komet ist ein eisiger Körper.", "Ein Planet umkreist einen Stern."),
        ("wer baute die Brücke?", "Die Brücke baute Roebling.", "Der Tunnel ist lang."),
        ("woraus besteht ein Komet?", "Ein Komet ist ein eisiger Körper.", "Kometen haben Schweife."),
    ],
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def row_aligned_parquet(tmp_path):
    """mMARCO's layout: one triples table per language, row i of every language is one triple."""
    files = {}
    for lang, triples in TRIPLES.items():
        files[lang] = str(tmp_path / f"{lang}.parquet")
        pd.DataFrame(triples, columns=["query", "positive", "negative"]).to_parquet(files[lang])
    return {
        "path": "parquet",
        "origin": "msmarco",
        "languages": {lang: {"data_files": path} for lang, path in files.items()},
        "columns": {"query": "query", "positive": "positive", "conflict_key": "positive", "hard_negatives": "negative"},
    }


def test_row_aligned_parquet_becomes_pairs(tmp_path):
    pairs = load_source_pairs("mmarco", row_aligned_parquet(tmp_path)).to_pandas()
    assert list(pairs.columns) == ["group_id", "conflict_key", "lang", "query", "positive", "hard_negatives"]
    assert len(pairs) == 6 and pairs["group_id"].tolist() == ["0", "1", "2"] * 2
    german = pairs[pairs["lang"] == "de"].set_index("group_id")
    assert german.loc["1", "query"] == "wer baute die Brücke?"
    assert list(german.loc["1", "hard_negatives"]) == ["Der Tunnel ist lang."]
    # The conflict key is the English positive in every language: rows 0 and 2 share a positive
    # and must never meet in a batch.
    keys = pairs.set_index(["lang", "group_id"])["conflict_key"]
    assert keys["de", "0"] == keys["en", "0"] == keys["de", "2"] == "A comet is an icy body."
    assert keys["de", "1"] == "The bridge was built by Roebling."


def test_json_lines_with_group_ids_and_negative_lists(tmp_path):
    files = {}
    for lang, triples in TRIPLES.items():
        files[lang] = tmp_path / f"{lang}.jsonl"
        with open(files[lang], "w", encoding="utf-8") as handle:
            for number, (query, positive, negative) in enumerate(triples):
                if lang == "de" and number == 1:
                    continue  # a group missing in one language is allowed with explicit ids
                record = {"qid": f"q{number}", "question": query, "answer": positive, "negatives": [negative, negative + "!"]}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    source = {
        "path": "json",
        "origin": "toy",
        "max_rows": 2,
        "languages": {lang: {"data_files": str(path)} for lang, path in files.items()},
        "columns": {"query": "question", "positive": "answer", "group_id": "qid", "hard_negatives": "negatives"},
    }
    pairs = load_source_pairs("toy", source).to_pandas()
    assert sorted(zip(pairs["lang"], pairs["group_id"])) == [("de", "q0"), ("de", "q2"), ("en", "q0"), ("en", "q1")]
    assert (pairs["conflict_key"] == pairs["group_id"]).all()
    assert [len(n) for n in pairs["hard_negatives"]] == [2, 2, 2, 2]


def test_a_missing_column_is_named(tmp_path):
    source = row_aligned_parquet(tmp_path)
    source["columns"]["positive"] = "passage"
    with pytest.raises(DataError, match=r"source 'mmarco', language en: .*no column\(s\) 'passage' \(it has: query, positive, negative\)"):
        load_source_pairs("mmarco", source)


def test_row_numbers_need_aligned_languages(tmp_path):
    source = row_aligned_parquet(tmp_path)
    pd.DataFrame(TRIPLES["de"][:2], columns=["query", "positive", "negative"]).to_parquet(source["languages"]["de"]["data_files"])
    with pytest.raises(DataError, match=r"same number of rows, but they have \{'en': 3, 'de': 2\}"):
        load_source_pairs("mmarco", source)


def test_an_empty_query_is_named_by_row(tmp_path):
    source = row_aligned_parquet(tmp_path)
    broken = list(TRIPLES["de"])
    broken[2] = ("  ", *broken[2][1:])
    pd.DataFrame(broken, columns=["query", "positive", "negative"]).to_parquet(source["languages"]["de"]["data_files"])
    with pytest.raises(DataError, match=r"source 'mmarco', language de, row 2, column 'query': expected a non-empty text"):
        load_source_pairs("mmarco", source)


def test_an_unreachable_dataset_is_reported(tmp_path):
    source = row_aligned_parquet(tmp_path)
    source["languages"]["en"]["data_files"] = str(tmp_path / "absent.parquet")
    with pytest.raises(DataError, match=r"source 'mmarco', language en: load_dataset\('parquet', .*failed"):
        load_source_pairs("mmarco", source)


def test_streaming_reads_only_the_first_rows(tmp_path):
    source = row_aligned_parquet(tmp_path)
    source.update(streaming=True, max_rows=2)
    pairs = load_source_pairs("mmarco", source).to_pandas()
    assert pairs["group_id"].tolist() == ["0", "1"] * 2
    assert pairs.loc[pairs["lang"] == "de", "query"].tolist() == ["was ist ein Komet?", "wer baute die Brücke?"]
    source["columns"]["positive"] = "passage"
    with pytest.raises(DataError, match=r"'streaming': True\}\): no column\(s\) 'passage' \(it has: query, positive, negative\)"):
        load_source_pairs("mmarco", source)


def test_an_empty_hard_negative_is_named(tmp_path):
    source = row_aligned_parquet(tmp_path)
    broken = [(*TRIPLES["en"][0][:2], "")] + TRIPLES["en"][1:]
    pd.DataFrame(broken, columns=["query", "positive", "negative"]).to_parquet(source["languages"]["en"]["data_files"])
    with pytest.raises(DataError, match=r"language en, row 0, column 'negative': expected a non-empty text"):
        load_source_pairs("mmarco", source)


@pytest.mark.parametrize("trusted", [None, False, True])
def test_remote_code_runs_only_when_the_source_says_so(tmp_path, monkeypatch, trusted):
    import datasets

    source = row_aligned_parquet(tmp_path)
    if trusted is not None:
        source["trust_remote_code"] = trusted
    calls = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda path, **arguments: calls.append(arguments) or real(path, **arguments))
    assert len(load_source_pairs("mmarco", source)) == 6  # datasets 4 logs that it ignores the argument
    assert {arguments.get("trust_remote_code") for arguments in calls} == {True if trusted else None}


def test_the_local_files_of_a_source_are_found(tmp_path, monkeypatch):
    from hybridbatch.data.sources import local_files

    monkeypatch.chdir(tmp_path)
    source = row_aligned_parquet(tmp_path)
    assert local_files(source) == [str(tmp_path / "en.parquet"), str(tmp_path / "de.parquet")]
    (tmp_path / "shards").mkdir()
    for name in ("b.parquet", "a.parquet", ".hidden.parquet"):
        (tmp_path / "shards" / name).write_bytes(b"")
    source["languages"] = {"en": {"data_files": {"train": ["shards/*.parquet"]}}, "de": {"data_files": "missing/*.parquet"}}
    assert local_files(source) == ["shards/a.parquet", "shards/b.parquet", "missing/*.parquet"]
    folder = {"path": str(tmp_path / "shards"), "origin": "x", "languages": {"en": {"name": "en"}}, "columns": {}}
    assert local_files(folder) == [str(tmp_path / "shards" / "a.parquet"), str(tmp_path / "shards" / "b.parquet")]
    triples = {
        "path": "triples",
        "id_triples": {"triples": "t.tsv", "queries": "{name}_q.tsv", "collection": "c_{name}.tsv"},
        "languages": {"de": {"name": "german"}, "en": {"name": "english"}},
    }
    assert local_files(triples) == ["triples/t.tsv", "triples/german_q.tsv", "triples/c_german.tsv", "triples/english_q.tsv", "triples/c_english.tsv"]
    assert local_files({**triples, "path": "hf://datasets/unicamp-dl/mmarco"}) == []
    assert local_files({"path": "unicamp-dl/mmarco", "languages": {"en": {"name": "english"}}}) == []


def test_a_local_source_records_its_files_and_a_hub_source_its_commit(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from hybridbatch.data.sources import PROVENANCE_KEY, provenance

    source = row_aligned_parquet(tmp_path)
    recorded = json.loads(load_source_pairs("mmarco", source).schema.metadata[PROVENANCE_KEY])
    assert recorded == {"path": "parquet", "files": [source["languages"][lang]["data_files"] for lang in ("en", "de")]}

    def unreachable(self, repo_id, revision=None):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", unreachable)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = {"path": "unicamp-dl/mmarco", "languages": {"en": {"name": "english"}}}
    assert provenance(hub) == {"path": "unicamp-dl/mmarco", "hub_repository": "unicamp-dl/mmarco", "revision": None, "commit": None}
    refs = tmp_path / "hub" / "datasets--unicamp-dl--mmarco" / "refs"
    refs.mkdir(parents=True)
    (refs / "v2").write_text("a" * 40)
    assert provenance({**hub, "revision": "v2"})["commit"] == "a" * 40
    assert provenance({"path": "hf://datasets/unicamp-dl/mmarco@v2", "id_triples": {}, "languages": {}})["commit"] == "a" * 40

    class Info:
        sha = "b" * 40

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo_id, revision=None: Info())
    assert provenance({**hub, "revision": "v2"})["commit"] == "b" * 40
