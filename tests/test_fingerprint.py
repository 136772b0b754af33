from hybridbatch.fingerprint import code_fingerprint, library_files

from conftest import REPOSITORY

SCRIPTS = REPOSITORY / "workflow" / "scripts"
LIBRARY = REPOSITORY / "src" / "hybridbatch"


def package(folder, modules):
    root = folder / "hybridbatch"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    for name, text in modules.items():
        (root / name).write_text(text)
    return root


def test_the_fingerprint_follows_imports_and_content(tmp_path):
    root = package(
        tmp_path,
        {
            "a.py": "from hybridbatch.b import thing\n",
            "b.py": "def thing():\n    from hybridbatch import c\n    return c\n",  # inside a function
            "c.py": "VALUE = 1\n",
            "d.py": "import hybridbatch.a\n",
        },
    )
    script = tmp_path / "script.py"
    script.write_text("import os\nfrom hybridbatch.a import thing\n")
    assert [path.name for path in library_files(script, root)] == ["__init__.py", "a.py", "b.py", "c.py"]
    before = code_fingerprint(script, root)
    (root / "d.py").write_text("import hybridbatch.a  # not run by the script\n")
    (root / "a.py").touch()  # a new time, the same content
    assert code_fingerprint(script, root) == before
    (root / "c.py").write_text("VALUE = 2\n")
    assert code_fingerprint(script, root) != before


def test_a_subpackage_module_brings_its_package_init(tmp_path):
    root = package(tmp_path, {"a.py": "from hybridbatch.core.b import thing\n"})
    (root / "core").mkdir()
    (root / "core" / "__init__.py").write_text('"""The core."""\n')
    (root / "core" / "b.py").write_text("from hybridbatch.core import c\n")
    (root / "core" / "c.py").write_text("thing = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from hybridbatch.a import thing\n")
    found = [path.relative_to(root).as_posix() for path in library_files(script, root)]
    assert found == ["__init__.py", "a.py", "core/__init__.py", "core/b.py", "core/c.py"]


def test_the_workflow_scripts_run_the_modules_of_their_stage():
    def modules(script):
        return {path.stem for path in library_files(SCRIPTS / f"{script}.py", LIBRARY)}

    assert {"figures", "tables"} <= modules("figure") and not {"manifest", "evaluate"} & modules("figure")
    assert "manifest" in modules("manifest") and "figures" not in modules("manifest")
    assert {"loop", "checkpoints", "launch", "distributed"} <= modules("train")
