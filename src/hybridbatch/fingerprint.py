"""The fingerprint of the library code a workflow script runs: the script's `hybridbatch` imports,
followed through the package, hashed by content. Rules pass it as a parameter, so an edit to a
library module reruns exactly the rules whose scripts import it (and what depends on their
outputs), and a checkout that changes no content reruns nothing. Standard library only: the
workflow computes it while it parses the Snakefile.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from pathlib import Path

PACKAGE = "hybridbatch"


def _imported_modules(source: Path) -> frozenset[str]:
    """The `hybridbatch` modules a file imports anywhere (top level or inside functions)."""
    return _imports_in(source.read_text(encoding="utf-8"), str(source))


@functools.cache
def _imports_in(text: str, filename: str) -> frozenset[str]:
    # Cached by content: every rule's fingerprint walks the shared modules (io, errors, ...) again
    # while Snakemake parses the workflow, and parsing them is most of the time.
    found = set()
    for node in ast.walk(ast.parse(text, filename=filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            # `from hybridbatch import lareqa` names modules as well.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def library_files(script: str | os.PathLike[str], package_root: str | os.PathLike[str]) -> list[Path]:
    """Every module of the package (folder `package_root`) that `script` runs, itself included
    in the walk but not in the result, sorted; `__init__.py` always."""
    root = Path(package_root)
    seen = {root / "__init__.py"}
    pending = [Path(script)]
    while pending:
        for module in _imported_modules(pending.pop()):
            for path in _module_files(root, module.split(".")[1:]):
                if path not in seen:
                    seen.add(path)
                    pending.append(path)
    return sorted(seen)


def _module_files(root: Path, parts: list[str]) -> list[Path]:
    """The files importing module `parts` (below the package) runs: the `__init__.py` of each
    subpackage on the way, and the module's own file (a module, or a subpackage's `__init__.py`)."""
    files = [root.joinpath(*parts[:depth], "__init__.py") for depth in range(1, len(parts) + 1)]
    files.append(root.joinpath(*parts).with_suffix(".py") if parts else root / "__init__.py")
    return [path for path in files if path.is_file()]


def code_fingerprint(script: str | os.PathLike[str], package_root: str | os.PathLike[str]) -> str:
    """sha256 over the names and contents of `library_files(script, package_root)`."""
    digest = hashlib.sha256()
    root = Path(package_root)
    for path in library_files(script, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
