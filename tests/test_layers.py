"""The library's layers: stage packages (data, models, training, evaluation, results) over a core
that imports no stage; results import neither training nor models, and never load torch or FAISS."""

import ast
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
    assert "torch is blocked" in importable_without(BLOCKED, ["hybridbatch.models.encode"])


def test_results_tables_figures_and_the_report_need_neither_torch_nor_faiss():
    modules = {module_name(path) for script in RESULT_SCRIPTS for path in library_files(SCRIPTS / f"{script}.py", LIBRARY)}
    assert {"hybridbatch.results.documents", "hybridbatch.results.figures", "hybridbatch.results.tables", "hybridbatch.core.runs"} <= modules
    assert importable_without(BLOCKED, sorted(modules | workflow_modules())) == ""


def workflow_modules():
    """The library modules the workflow imports while it parses (every run, every cluster job)."""
    workflow = "".join(path.read_text() for path in (REPOSITORY / "workflow" / "rules").glob("*.smk"))
    modules = set()
    for package, names in re.findall(r"^from (hybridbatch[\w.]*) import (.+)$", workflow, flags=re.MULTILINE):
        # `from hybridbatch import config as hbconfig` names a module.
        modules |= {f"{package}.{name.split()[0]}" for name in names.split(",")} if package == "hybridbatch" else {package}
    return modules


def test_parsing_the_workflow_loads_neither_torch_nor_faiss_nor_matplotlib():
    modules = workflow_modules()
    assert {"hybridbatch.config", "hybridbatch.results.figure_catalog", "hybridbatch.training.settings"} <= modules
    assert importable_without((*BLOCKED, "matplotlib"), sorted(modules)) == ""


def test_the_core_imports_nothing_above_it():
    core = sorted((LIBRARY / "core").glob("*.py"))
    assert importable_without(BLOCKED, [module_name(path) for path in core]) == ""
    for path in core:
        above = [module_name(used) for used in library_files(path, LIBRARY) if used.parent != LIBRARY / "core" and used.name != "__init__.py"]
        assert not above, f"{path.name} imports {above}"


STAGES = ("data", "models", "training", "evaluation", "results")
# What each stage may import besides the core: the DAG's order, never backwards.
MAY_IMPORT = {
    "data": {"data"},
    "models": {"models"},
    "evaluation": {"evaluation"},
    "training": {"training", "data", "models", "evaluation"},
    "results": {"results", "data"},
}


def stage_of(path):
    parts = path.relative_to(LIBRARY).parts
    return parts[0] if len(parts) > 1 else None


def test_the_package_folders_are_the_stages_of_the_dag():
    folders = {path.name for path in LIBRARY.iterdir() if path.is_dir() and (path / "__init__.py").is_file()}
    assert folders == {"core", *STAGES}
    assert {path.name for path in LIBRARY.glob("*.py")} == {"__init__.py", "config.py", "fingerprint.py"}


def test_each_stage_imports_only_the_stages_before_it():
    for stage in STAGES:
        for path in sorted((LIBRARY / stage).rglob("*.py")):
            used = {stage_of(module) for module in library_files(path, LIBRARY)} - {None, "core"}
            assert used <= MAY_IMPORT[stage], f"{path.relative_to(LIBRARY)} imports {sorted(used - MAY_IMPORT[stage])}"


def test_the_architecture_page_is_drawn_from_the_present_imports():
    result = subprocess.run([sys.executable, str(REPOSITORY / "docs" / "architecture.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_library_function_runs_over_a_screen_without_saying_why():
    """A function over 60 lines says in its docstring why it is long "on purpose"."""
    long = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 60 and "on purpose" not in (ast.get_docstring(node) or ""):
                long.append(f"{path.relative_to(LIBRARY)}:{node.lineno} {node.name}")
    assert not long
