"""Draw the library's layout from its imports into docs/architecture.md (between the markers).

    python docs/architecture.py          # rewrite the drawn part
    python docs/architecture.py --check  # exit 1 if it is out of date (tests/test_layers.py)

Each package is listed with its modules (their docstrings' first lines) and the packages it imports
directly, so the page changes whenever the code's layering does.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
LIBRARY = REPOSITORY / "src" / "hybridbatch"
PAGE = REPOSITORY / "docs" / "architecture.md"
BEGIN = "<!-- drawn by docs/architecture.py from the imports: do not edit by hand -->"
END = "<!-- end of the drawn part -->"


def package_of(module: str) -> str:
    """The package a module name belongs to, below hybridbatch ("" for the top level)."""
    parts = module.split(".")[1:]
    path = LIBRARY.joinpath(*parts)
    if path.is_dir():
        return "/".join(parts)
    return "/".join(parts[:-1])


def direct_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("hybridbatch.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("hybridbatch"):
            found |= {
                f"{node.module}.{alias.name}" if (LIBRARY.joinpath(*node.module.split(".")[1:], alias.name + ".py")).is_file() else node.module
                for alias in node.names
            }
    return found


def first_line(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.split("\n\n")[0].replace("\n", " ").strip()


def drawing() -> str:
    packages: dict[str, list[Path]] = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name != "__init__.py":
            packages.setdefault(path.parent.relative_to(LIBRARY).as_posix().replace(".", ""), []).append(path)
    lines = [BEGIN, "", "| package | imports | module: what it is |", "|---|---|---|"]
    for package, paths in sorted(packages.items(), key=lambda item: (item[0] != "", item[0])):
        imported = sorted({package_of(name) for path in paths for name in direct_imports(path)} - {package})
        modules = "<br>".join(f"`{path.stem}`: {first_line(path)}" for path in paths)
        shown = ", ".join(f"`{name or 'hybridbatch'}`" for name in imported) or "-"
        lines.append(f"| `{package or 'hybridbatch'}` | {shown} | {modules} |")
    return "\n".join([*lines, "", END])


def updated(page: str) -> str:
    before, _, rest = page.partition(BEGIN)
    _, _, after = rest.partition(END)
    return before + drawing() + after


def main(arguments: list[str]) -> int:
    page = PAGE.read_text(encoding="utf-8")
    if BEGIN not in page or END not in page:
        print(f"{PAGE}: the markers {BEGIN!r} and {END!r} are missing", file=sys.stderr)
        return 1
    new = updated(page)
    if "--check" in arguments:
        if new != page:
            print(f"{PAGE} is out of date: run python docs/architecture.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
