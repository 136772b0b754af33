"""Every snakemake command the documentation gives runs as written: each is taken from README.md,
docs/, the other READMEs and the config headers, and dry-run (`--dry-run` added) in a copy of the
repository with ../shared beside it, as on a fresh clone."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPOSITORY

pytestmark = pytest.mark.workflow

MARKDOWN = ["README.md", "profiles/slurm/README.md", "bench/README.md", *sorted(str(p.relative_to(REPOSITORY)) for p in (REPOSITORY / "docs").glob("*.md"))]
YAML_HEADERS = [*sorted(str(p.relative_to(REPOSITORY)) for p in (REPOSITORY / "config").glob("*.yaml")), "profiles/slurm/config.yaml"]
IGNORED = {".git", ".venv", ".snakemake", ".hypothesis", ".ruff_cache", "results", "resources", "logs", "benchmarks"}


def _command(code: str) -> str | None:
    """The snakemake command in a piece of code: the whole of it, or what follows its last `&&`."""
    command = " ".join(code.split("&&")[-1].split())
    return command if command.startswith("snakemake ") else None


def _spans(text: str) -> list[str]:
    """Inline code spans, which may wrap over lines."""
    return re.findall(r"(?<!`)`([^`]+)`(?!`)", text)


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) of every snakemake command in the documentation and the config headers."""
    found = []
    for name in MARKDOWN:
        text = (REPOSITORY / name).read_text(encoding="utf-8")
        blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
        codes = [line for block in blocks for line in block.splitlines()]
        prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
        found += [(name, command) for code in [*codes, *_spans(prose)] if (command := _command(code))]
    for name in YAML_HEADERS:
        comments = [line[1:] for line in (REPOSITORY / name).read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        found += [(name, command) for code in [*comments, *_spans("\n".join(comments))] if (command := _command(code))]
    return list(dict.fromkeys(found))


def exported_variables() -> dict[str, str]:
    """The variables the documentation's code blocks `export` (the SLURM profile's)."""
    text = "\n".join((REPOSITORY / name).read_text(encoding="utf-8") for name in MARKDOWN)
    return dict(pair.split("=", 1) for line in re.findall(r"^export (.+)$", text, flags=re.MULTILINE) for pair in shlex.split(line))


COMMANDS = documented_commands()


def test_the_documentation_gives_its_commands():
    # The extraction must find the commands the README leads with and those of the configs' headers.
    commands = {command for _, command in COMMANDS}
    assert "snakemake --cores 8 all" in commands
    assert {"config/study.yaml", "config/domains.yaml", "config/paper.yaml", "config/test.yaml"} <= {where for where, _ in COMMANDS}
    assert len(COMMANDS) >= 12, COMMANDS


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The repository's files with ../shared beside them (the layout of a fresh clone)."""
    import shutil

    root = tmp_path_factory.mktemp("commands")
    shutil.copytree(REPOSITORY, root / "repo", ignore=lambda where, names: IGNORED & set(names) if Path(where) == REPOSITORY else set())
    (root / "shared").symlink_to((REPOSITORY.parent / "shared").resolve())
    return root / "repo"


def dry_run(clone: Path, scratch: Path, command: str) -> subprocess.CompletedProcess:
    words = shlex.split(command, comments=True)
    # A placeholder (`<scratch>`) or a scratch folder is the test's own folder.
    words = [str(scratch) if re.fullmatch(r"<\w+>|/tmp/[\w-]+", word) else word for word in words]
    if "--report" in words:
        # A report needs a finished run (built in test_workflow.py); the DAG it reports on is checked here.
        index = words.index("--report")
        del words[index : index + 2]
    return subprocess.run([sys.executable, "-m", *words, "--dry-run"], cwd=clone, capture_output=True, text=True, env={**os.environ, **exported_variables()})


@pytest.fixture(scope="module")
def dry_runs(clone, tmp_path_factory):
    """Every documented command's dry run, side by side (each is mostly start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    scratch = tmp_path_factory.mktemp("scratch")
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = pool.map(lambda entry: dry_run(clone, scratch / str(COMMANDS.index(entry)), entry[1]), COMMANDS)
        return dict(zip(COMMANDS, results, strict=True))


@pytest.mark.parametrize("where, command", COMMANDS, ids=[f"{where}: {command}" for where, command in COMMANDS])
def test_a_documented_command_runs_as_written(dry_runs, where, command):
    result = dry_runs[where, command]
    assert result.returncode == 0, f"{where}: {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
