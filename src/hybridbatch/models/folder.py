"""A model folder (Hugging Face + sentence-transformers): saved whole or not at all with what made
its weights (`made_with.json`), loaded only when it is a usable encoder, described for logs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import transformers
from sentence_transformers import SentenceTransformer

from hybridbatch.core.errors import DataError
from hybridbatch.core.io import atomic_folder, reading
from hybridbatch.models.accelerator import default_device, resolved_precision


def provenance(precision: str, device: torch.device) -> dict[str, str]:
    """What made a number (hybridbatch.core.contract.PROVENANCE): the resolved precision, the
    device (with the GPU's name) and the versions of torch and transformers."""
    where = f"{device.type} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type
    return {
        "precision": resolved_precision(precision, device),
        "device": where,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def load_encoder(folder: str | os.PathLike[str], device: torch.device | None = None):
    """Load a sentence-transformers folder, refusing anything that is not a usable model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: model folder does not exist")
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise DataError(f"{folder}: not a model folder (no config.json or modules.json)")
    with reading(folder, "model folder"):
        encoder = SentenceTransformer(str(folder), device=str(device or default_device()), local_files_only=True)
    rows = encoder[0].auto_model.get_input_embeddings().num_embeddings
    if len(encoder.tokenizer) > rows:
        raise DataError(
            f"{folder}: the tokenizer has {len(encoder.tokenizer)} tokens but the model embeds only {rows}: tokenizer and weights do not belong together"
        )
    encoder.eval()
    return encoder


MADE_WITH = "made_with.json"


def save_encoder(encoder, target: str | os.PathLike[str], made_with: dict[str, str]) -> None:
    """Save a SentenceTransformer folder so that `target` appears complete or not at all, with
    `made_with.json`: the precision, device and versions its weights were made with."""
    with atomic_folder(target) as staging:
        encoder.save(str(staging))
        (Path(staging) / MADE_WITH).write_text(json.dumps(made_with, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def describe(folder: str | os.PathLike[str]) -> dict:
    """Key facts of a model folder, for logs."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return {key: config.get(key) for key in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")}
