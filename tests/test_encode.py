import numpy as np
import pandas as pd
import pytest
import torch

from hybridbatch.core.embeddings import embedding_files, load_embeddings, save_embeddings
from hybridbatch.core.errors import DataError
from hybridbatch.models.accelerator import autocast_dtype
from hybridbatch.models.encode import embed_dataset, embed_language, encode
from hybridbatch.models.folder import load_encoder, provenance
from hybridbatch.models.settings import EncodeSettings

TEXTS = ["a short one", "a much longer sentence with many more words in it than the others", "mittel lang", "中文句子。"]


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return load_encoder(tiny_model)


def test_vectors_are_normalised_and_follow_input_order(tiny):
    settings = EncodeSettings(precision="fp32", batch_size=2)
    vectors = encode(tiny, TEXTS, "query", settings)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    reversed_vectors = encode(tiny, TEXTS[::-1], "query", settings)
    np.testing.assert_allclose(reversed_vectors[::-1], vectors, atol=1e-5)


def test_batching_does_not_change_vectors(tiny):
    one = encode(tiny, TEXTS, "passage", EncodeSettings(precision="fp32", batch_size=1))
    many = encode(tiny, TEXTS, "passage", EncodeSettings(precision="fp32", batch_size=64))
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_prompts_and_truncation_follow_the_model_and_settings(tiny):
    ours = encode(tiny, TEXTS, "query", EncodeSettings(precision="fp32"))
    reference = tiny.encode(TEXTS, prompt_name="query", normalize_embeddings=True)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    passages = encode(tiny, TEXTS, "passage", EncodeSettings(precision="fp32"))
    assert not np.allclose(ours, passages, atol=1e-3)  # "query: " and "passage: " differ
    short = encode(tiny, TEXTS[1:2], "query", EncodeSettings(precision="fp32", query_max_length=8))
    cut = tiny.tokenizer.decode(tiny.tokenizer("query: " + TEXTS[1], max_length=8, truncation=True)["input_ids"][1:-1])
    np.testing.assert_allclose(short, tiny.encode([cut], normalize_embeddings=True), atol=1e-5)


def test_bf16_stays_close_to_fp32(tiny):
    fp32 = encode(tiny, TEXTS, "query", EncodeSettings(precision="fp32"))
    bf16 = encode(tiny, TEXTS, "query", EncodeSettings(precision="bf16"))
    assert (fp32 * bf16).sum(axis=1).min() > 0.99


def test_precision_choice():
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(ValueError, match="precision 'fp16'"):
        autocast_dtype("fp16", cpu)


def test_auto_precision_is_fp32_on_every_cpu_and_recorded():
    import transformers

    assert autocast_dtype("auto", torch.device("cpu")) is None
    made = provenance("auto", torch.device("cpu"))
    assert made == {"precision": "fp32", "device": "cpu", "torch": torch.__version__, "transformers": transformers.__version__}
    assert provenance("bf16", torch.device("cpu"))["precision"] == "bf16"


def test_nan_embeddings_are_refused(tiny_model):
    broken = load_encoder(tiny_model)
    with torch.no_grad():
        broken[0].auto_model.embeddings.LayerNorm.weight.fill_(float("nan"))
    with pytest.raises(DataError, match="4 query embedding\\(s\\) are NaN"):
        encode(broken, TEXTS, "query", EncodeSettings(precision="fp32"))


def test_unusable_model_folders(tiny_model, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_encoder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a model folder"):
        load_encoder(tmp_path / "empty")
    mismatched = tmp_path / "mismatched"
    model = load_encoder(tiny_model)
    model[0].auto_model.resize_token_embeddings(1000)
    model.save(str(mismatched))
    with pytest.raises(DataError, match="tokenizer has 250002 tokens but the model embeds only 1000"):
        load_encoder(mismatched)


def test_embed_language_round_trip(tiny, tmp_path):
    queries = pd.DataFrame({"qid": ["1", "2", "1"], "lang": ["en", "en", "de"], "text": ["q one", "q two", "F eins"]})
    candidates = pd.DataFrame({"cid": ["en:0", "de:0"], "lang": ["en", "de"], "text": ["p", "P"], "context_id": ["a", "b"]})
    embedded = embed_language(tiny, queries, candidates, "en", EncodeSettings(precision="fp32"))
    assert embedded.query_ids.tolist() == ["1", "2"] and embedded.candidate_ids.tolist() == ["en:0"]
    assert embedded.made_with == provenance("fp32", torch.device("cpu"))
    save_embeddings(tmp_path / "en.npz", embedded)
    loaded = load_embeddings(tmp_path / "en.npz")
    np.testing.assert_array_equal(loaded.queries, embedded.queries)
    assert loaded.made_with == embedded.made_with
    np.savez(tmp_path / "old.npz", **{name: getattr(embedded, name) for name in ("query_ids", "queries", "candidate_ids", "candidates")})
    with pytest.raises(DataError, match="old.npz: no record of the precision"):
        load_embeddings(tmp_path / "old.npz")
    with pytest.raises(DataError, match="language fr has no candidates"):
        embed_language(tiny, queries, candidates, "fr", EncodeSettings(precision="fp32"))
    # One job embeds every language of a data set into the model's folder, a file per language.
    embed_dataset(tiny, queries, candidates, ["de", "en"], EncodeSettings(precision="fp32"), tmp_path / "model")
    files = embedding_files(tmp_path / "model", ["de", "en"])
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == ["de.npz", "en.npz"]
    assert load_embeddings(files["de"]).query_ids.tolist() == ["1"]
    np.testing.assert_array_equal(load_embeddings(files["en"]).candidates, embedded.candidates)


def test_token_budget_batches():
    from hybridbatch.models.encode import token_budget_batches

    # Sorted longest first; 100-token texts fit 2 per 256 tokens, 10-token ones 25 (capped at 4).
    assert token_budget_batches([300, 100, 100, 100, 10, 10, 10, 10, 10], 4, 256) == [(0, 1), (1, 3), (3, 5), (5, 9)]
    assert token_budget_batches([], 4, 256) == []
    # Rounded up to 32 tokens (GPU): 100 -> 128, so only 2 texts fit 256 tokens.
    assert token_budget_batches([100, 100, 100, 10], 4, 256, 32) == [(0, 2), (2, 4)]


def test_a_damaged_embeddings_file_is_named(tiny, tmp_path):
    queries = pd.DataFrame({"qid": ["1"], "lang": ["en"], "text": ["q one"]})
    candidates = pd.DataFrame({"cid": ["en:0"], "lang": ["en"], "text": ["p"], "context_id": ["a"]})
    path = tmp_path / "en.npz"
    save_embeddings(path, embed_language(tiny, queries, candidates, "en", EncodeSettings(precision="fp32")))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    with pytest.raises(
        DataError,
        match=rf"^{path}: cannot read this embeddings file \(BadZipFile: .*\); it is damaged or "
        rf"incomplete: delete {tmp_path} and run snakemake again to rebuild it$",
    ):
        load_embeddings(path)


def test_damaged_model_weights_name_the_model_folder(tiny_model, tmp_path):
    import shutil

    folder = tmp_path / "hybrid"
    shutil.copytree(tiny_model, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(
        DataError,
        match=rf"^{folder}: cannot read this model folder \(SafetensorError: .*\); it is damaged "
        rf"or incomplete: delete {folder} and run snakemake again to rebuild it$",
    ):
        load_encoder(folder)
