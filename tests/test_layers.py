"""The house's layers: a core that imports no stage, and result stages that never load torch or FAISS."""

import re
import subprocess
import sys

from hybridbatch.fingerprint import library_files

from conftest import REPOSITORY

LIBRARY = REPOSITORY / "src" / "hybridbatch"
SCRIPTS = REPOSITORY / "workflow" / "scripts"
# The scripts of the rules that read results: significance, tables, figures, the leak-check table,
# the domain study's table and figure.
RESULT_SCRIPTS = ("significance", "aggregate", "figure", "overlap_table", "domains", "domain_figure")
BLOCKED = ("torch", "faiss")


def importable_without(blocked, modules):
    """Import `modules` in a fresh interpreter where importing any of `blocked` fails: the error, or ''."""
    program = (
        "import importlib, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {tuple(blocked)!r}:\n"
        "            raise ImportError(f'{name} is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for module in {list(modules)!r}:\n"
        "    importlib.import_module(module)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    return result.stderr.strip().splitlines()[-1] if result.returncode else ""


def module_name(path):
    return ".".join(("hybridbatch", *path.relative_to(LIBRARY).with_suffix("").parts)).removesuffix(".__init__")


def test_the_blocker_blocks():
    assert "torch is blocked" in importable_without(BLOCKED, ["hybridbatch.encode"])


def test_results_tables_figures_and_the_report_need_neither_torch_nor_faiss():
    modules = {module_name(path) for script in RESULT_SCRIPTS for path in library_files(SCRIPTS / f"{script}.py", LIBRARY)}
    assert {"hybridbatch.documents", "hybridbatch.figures", "hybridbatch.results", "hybridbatch.core.runs"} <= modules
    # The workflow itself (`snakemake --report` parses it in the main process) imports these.
    workflow = "".join(path.read_text() for path in (REPOSITORY / "workflow" / "rules").glob("*.smk"))
    for package, names in re.findall(r"^from (hybridbatch[\w.]*) import (.+)$", workflow, flags=re.M):
        # `from hybridbatch import config as hbconfig` names a module.
        modules |= {f"{package}.{name.split()[0]}" for name in names.split(",")} if package == "hybridbatch" else {package}
    assert "hybridbatch.config" in modules
    assert importable_without(BLOCKED, sorted(modules)) == ""


def test_the_core_imports_nothing_above_it():
    core = sorted((LIBRARY / "core").glob("*.py"))
    assert importable_without(BLOCKED, [module_name(path) for path in core]) == ""
    for path in core:
        above = [module_name(used) for used in library_files(path, LIBRARY) if used.parent != LIBRARY / "core" and used.name != "__init__.py"]
        assert not above, f"{path.name} imports {above}"
