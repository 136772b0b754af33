"""Embed texts with a sentence-transformers model folder: length-sorted batches, autocast, no grad.

The model folder defines the forward pass (transformer, pooling, normalisation) and the text
prefixes (its `prompts`); this module adds the batching. The device and precision come from
hybridbatch.models.accelerator, the file format from hybridbatch.core.embeddings. Vectors are always
returned L2-normalised in float32.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hybridbatch.core.embeddings import LanguageEmbeddings, embedding_files, save_embeddings
from hybridbatch.core.errors import DataError
from hybridbatch.models.accelerator import autocast_dtype, pad_multiple
from hybridbatch.models.folder import provenance
from hybridbatch.models.settings import EncodeSettings

log = logging.getLogger(__name__)


def token_budget_batches(lengths: list[int], max_texts: int, max_tokens: int, multiple: int = 1) -> list[tuple[int, int]]:
    """[start, end) ranges over texts sorted longest first: each batch holds at most `max_texts`
    texts and, padded to its first (longest) text rounded up to `multiple` tokens, at most
    `max_tokens` tokens (always >= 1 text)."""
    batches, start = [], 0
    while start < len(lengths):
        padded = -(-max(1, lengths[start]) // multiple) * multiple
        fit = max(1, min(max_texts, max_tokens // padded))
        end = min(len(lengths), start + fit)
        batches.append((start, end))
        start = end
    return batches


def padded_features(tokenizer, token_ids: Sequence[Sequence[int]], multiple: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Token ids of several texts as one batch on `device`, padded to the longest (rounded up to
    `multiple`), with its attention mask."""
    features = tokenizer.pad({"input_ids": list(token_ids)}, pad_to_multiple_of=multiple if multiple > 1 else None, return_tensors="pt")
    return {name: tensor.to(device) for name, tensor in features.items()}


def length_chunks(lengths: Sequence[int], overhead: int, multiple: int = 1) -> list[list[int]]:
    """The texts' indices in groups, each to be padded to its longest text (rounded up to
    `multiple`): the grouping of least total cost, padded tokens plus `overhead` tokens for each
    group (a forward call's fixed cost). Texts are sorted longest first and cut by dynamic
    programming over that order (exact for it; O(n^2) for n texts, a batch's).

    >>> length_chunks([10, 1, 9, 2], overhead=5)  # 5 + 2 x 10 + 5 + 2 x 2 = 34 beats 45 for one group
    [[0, 2], [3, 1]]
    """
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    padded = [-(-max(1, lengths[index]) // multiple) * multiple for index in order]
    best, start_of = [0] + [None] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end):
            cost = best[start] + overhead + padded[start] * (end - start)
            if best[end] is None or cost < best[end]:
                best[end], start_of[end] = cost, start
    chunks, end = [], len(order)
    while end:
        chunks.append(order[start_of[end] : end])
        end = start_of[end]
    return chunks[::-1]


def encode(
    encoder,
    texts: list[str],
    kind: str,
    settings: EncodeSettings,
    description: str | None = None,
) -> np.ndarray:
    """Embed `texts` as queries or passages (the model's prompt for `kind` is prepended)."""
    if kind not in ("query", "passage"):
        raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
    device = encoder.device
    dtype = autocast_dtype(settings.precision, device)
    prefix = encoder.prompts.get(kind, "")
    tokenizer = encoder.tokenizer
    token_ids = tokenizer(
        [prefix + text for text in texts],
        truncation=True,
        max_length=settings.max_length(kind),
        add_special_tokens=True,
    )["input_ids"]
    # Longest first: similar lengths share a batch (little padding), and the first batch shows
    # the peak memory at once rather than at the end.
    order = sorted(range(len(texts)), key=lambda i: -len(token_ids[i]))
    multiple = pad_multiple(device)
    batches = token_budget_batches([len(token_ids[i]) for i in order], settings.batch_size, settings.batch_tokens, multiple)
    vectors = np.empty((len(texts), 0), dtype=np.float32)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        tqdm(total=len(texts), desc=description or f"encode {kind}", unit="text", mininterval=2) as bar,
    ):
        for start, end in batches:
            batch = order[start:end]
            features = padded_features(tokenizer, [token_ids[i] for i in batch], multiple, device)
            embedding = encoder(features)["sentence_embedding"].float()
            embedding = torch.nn.functional.normalize(embedding, dim=-1)
            if not start:
                vectors = np.empty((len(texts), embedding.shape[1]), dtype=np.float32)
            vectors[batch] = embedding.cpu().numpy()
            bar.update(len(batch))
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise DataError(f"{bad.size} {kind} embedding(s) are NaN or infinite (first: text {bad[0]}: {texts[bad[0]][:80]!r})")
    return vectors


def embed_language(encoder, queries: pd.DataFrame, candidates: pd.DataFrame, lang: str, settings: EncodeSettings) -> LanguageEmbeddings:
    lang_queries = queries[queries["lang"] == lang]
    lang_candidates = candidates[candidates["lang"] == lang]
    if lang_candidates.empty:
        raise DataError(f"language {lang} has no candidates to embed")
    return LanguageEmbeddings(
        lang_queries["qid"].to_numpy(dtype=str),
        encode(encoder, lang_queries["text"].tolist(), "query", settings, f"{lang} queries"),
        lang_candidates["cid"].to_numpy(dtype=str),
        encode(encoder, lang_candidates["text"].tolist(), "passage", settings, f"{lang} candidates"),
        provenance(settings.precision, encoder.device),
    )


def embed_dataset(
    encoder,
    queries: pd.DataFrame,
    candidates: pd.DataFrame,
    languages: Sequence[str],
    settings: EncodeSettings,
    folder: str | os.PathLike[str],
) -> None:
    """Embed each language of a data set (`embed_language`) into `folder` (`embedding_files`)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    for lang, path in embedding_files(folder, languages).items():
        embedded = embed_language(encoder, queries, candidates, lang, settings)
        save_embeddings(path, embedded)
        log.info("%s: %d queries, %d candidates embedded", lang, len(embedded.queries), len(embedded.candidates))
