"""Writing artifacts: atomic, readable under the user's umask, no litter after a kill, disk errors named."""

import errno
import os
import stat
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from hybridbatch.core.errors import DataError, OutputError
from hybridbatch.core.io import atomic_folder, atomic_path, read_frame, read_frame_csv, write_frame, write_text


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_take_the_umask(tmp_path, umask_022):
    write_text("hello", tmp_path / "deep" / "file.txt")
    assert mode(tmp_path / "deep" / "file.txt") == 0o644
    assert mode(tmp_path / "deep") == 0o755
    with atomic_folder(tmp_path / "model") as staging:
        (staging / "config.json").write_text("{}")
        save_file({"weight": torch.zeros(2)}, staging / "model.safetensors")  # safetensors writes 0600
    assert mode(tmp_path / "model") == 0o755
    assert mode(tmp_path / "model" / "config.json") == mode(tmp_path / "model" / "model.safetensors") == 0o644
    os.umask(0o077)
    write_text("private", tmp_path / "private.txt")
    assert mode(tmp_path / "private.txt") == 0o600


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "table.parquet"
    with pytest.raises(RuntimeError, match="killed mid-write") as caught, atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")
    assert f"while writing {target}" in caught.value.__notes__[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "advice"), [(errno.ENOSPC, "free space on that disk"), (errno.EROFS, "run from a writable working directory")])
def test_a_disk_error_names_the_file_being_written(tmp_path, code, advice):
    target = tmp_path / "results" / "embeddings.npz"
    with pytest.raises(OutputError) as caught, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code))
    assert str(caught.value).startswith(f"{target}: cannot write it: {os.strerror(code)} ({advice}")
    assert list(target.parent.iterdir()) == []


def test_a_folder_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputError, match=rf"^{blocker}/x\.csv: cannot write it"):
        write_text("x", blocker / "x.csv")


KILLED_WRITER = """
import os, sys
from hybridbatch.core.io import atomic_folder, atomic_path
target = sys.argv[1]
with atomic_{kind}(target) as tmp:
    {fill}
    print(tmp, flush=True)
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize(
    ("kind", "fill"),
    [("path", "tmp.write_bytes(b'half a checkpoint')"), ("folder", "(tmp / 'model.safetensors').write_bytes(b'half')")],
)
def test_what_a_killed_writer_leaves_is_removed_by_the_next_write(tmp_path, kind, fill):
    target = tmp_path / "checkpoint.pt"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER.format(kind=kind, fill=fill), str(target)], capture_output=True, text=True)
    assert killed.returncode == -9
    orphan = tmp_path / killed.stdout.strip().rsplit("/", 1)[-1]
    assert orphan.exists() and not target.exists()
    neighbour = tmp_path / ".checkpoint.pt.seed1.0123abcd.tmp"  # another target's name: not touched
    neighbour.write_bytes(b"")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, neighbour.name])


def test_a_damaged_artifact_is_named_with_what_to_do(tmp_path):
    table = tmp_path / "manifest.parquet"
    write_frame(pd.DataFrame({"batch": [0, 1]}), table)
    table.write_bytes(table.read_bytes()[:-20])  # truncated
    with pytest.raises(
        DataError,
        match=rf"^{table}: cannot read this manifest \(.*\); it is damaged or incomplete: "
        rf"delete {table} and run snakemake again to rebuild it$",
    ):
        read_frame(table, "manifest")
    log = tmp_path / "model" / "train_log.csv"
    log.parent.mkdir()
    log.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match=rf"^{log}: cannot read this training log .* delete {log.parent} and run"):
        read_frame_csv(log, "training log", log.parent)


FILE_SIZE_LIMITED = """
import resource, signal, sys
import numpy as np, pandas as pd
from hybridbatch.core.io import write_frame
from hybridbatch.core.logs import logged

# A real write failure: past RLIMIT_FSIZE the kernel refuses the write (EFBIG), as a full disk does (ENOSPC).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
with logged(sys.argv[2]):
    write_frame(pd.DataFrame({"x": np.arange(100_000)}), sys.argv[1])
"""


def test_a_refused_write_is_reported_once_naming_the_file(tmp_path):
    target, log = tmp_path / "results" / "metrics.parquet", tmp_path / "logs" / "evaluate.log"
    result = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMITED, str(target), str(log)], capture_output=True, text=True)
    assert result.returncode == 1
    message = f"{target}: cannot write it: File too large (the file system, or a file size limit (ulimit -f), refuses"
    assert result.stderr.count(message) == 1 and "Traceback" not in result.stderr, result.stderr
    assert log.read_text().count(message) == 1
    assert list(target.parent.iterdir()) == []


def test_an_unexpected_error_keeps_its_traceback_once(tmp_path):
    code = "import sys\nfrom hybridbatch.core.logs import logged\nwith logged(sys.argv[1]):\n    {}['missing']\n"
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "job.log")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("Traceback") == 1 and result.stderr.count("KeyError: 'missing'") == 1, result.stderr
