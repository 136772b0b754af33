"""The documentation holds together: every relative link of the Markdown pages reaches a file (and a
heading, where it names an anchor), the README stays a front page, and it leads with the two
commands a newcomer copies. The site itself is built strictly by `mkdocs build --strict` (.ci/run)."""

import re
import unicodedata
from pathlib import Path

import pytest

from conftest import REPOSITORY

PAGES = [
    "README.md",
    "CONTRIBUTING.md",
    "config/README.md",
    "profiles/slurm/README.md",
    "bench/README.md",
    *sorted(str(p.relative_to(REPOSITORY)) for p in (REPOSITORY / "docs").glob("*.md")),
]
README_LIMIT = 12_500
FRONT_COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && snakemake --cores 8 all",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest',
]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", flags=re.MULTILINE | re.DOTALL)


def without_code(text: str) -> str:
    """The text with fenced blocks, indented blocks and inline code spans removed (links there are not links)."""
    text = FENCE.sub("", text)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.MULTILINE)
    return re.sub(r"(`+).*?\1", "", text, flags=re.DOTALL)


def links(text: str) -> list[str]:
    """The targets of the inline links and images: `[text](target)` and `[text](target "title")`."""
    return [target for target in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", without_code(text))]


def slug(heading: str) -> str:
    """The anchor of a heading, by Python-Markdown's rule (mkdocs' `toc`), which GitHub's agrees with
    on plain headings: markup and punctuation dropped, lower case, spaces and hyphens to one '-'."""
    text = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated heading gets `_1`, `_2`, ... in mkdocs)."""
    found: set[str] = set()
    repeats: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", path.read_text(encoding="utf-8")), flags=re.MULTILINE):
        base = slug(heading)
        if base in repeats:
            repeats[base] += 1
            found.add(f"{base}_{repeats[base]}")
        else:
            repeats[base] = 0
            found.add(base)
    return found


def relative_links(name: str) -> list[str]:
    return [target for target in links((REPOSITORY / name).read_text(encoding="utf-8")) if not re.match(r"[a-z][a-z0-9+.-]*:|//", target)]


def broken(name: str, target: str) -> str | None:
    """Why a relative link of the file `name` does not resolve, or None when it does."""
    path, _, anchor = target.partition("#")
    source = REPOSITORY / name
    goal = (source.parent / path).resolve() if path else source
    if not goal.exists():
        return f"{name}: {target}: no file {goal}"
    if REPOSITORY.resolve() not in [goal, *goal.parents]:
        return f"{name}: {target}: outside the repository"
    if anchor and goal.suffix == ".md" and anchor not in anchors(goal):
        return f"{name}: {target}: {goal.name} has no heading with the anchor #{anchor}"
    return None


def test_the_link_checks_can_fail(tmp_path, monkeypatch):
    # The checks below must be able to tell: a missing file, a missing heading, and a good link.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# A page\n\n## Seeds, budget and what a run can conclude?\n\n[x](b.md) [y](a.md#nope) [z](#seeds-budget-and-what-a-run-can-conclude) `[w](c.md)`\n"
    )
    monkeypatch.setitem(globals(), "REPOSITORY", tmp_path)
    assert relative_links("docs/a.md") == ["b.md", "a.md#nope", "#seeds-budget-and-what-a-run-can-conclude"]
    assert "no file" in broken("docs/a.md", "b.md")
    assert "no heading" in broken("docs/a.md", "a.md#nope")
    assert broken("docs/a.md", "#seeds-budget-and-what-a-run-can-conclude") is None
    assert slug("Results (2 cores, no GPU)") == "results-2-cores-no-gpu"
    assert slug("Does it transfer across domains?") == "does-it-transfer-across-domains"


@pytest.mark.parametrize("name", PAGES)
def test_every_relative_link_resolves(name):
    found = relative_links(name)
    problems = [problem for target in found if (problem := broken(name, target))]
    assert not problems, "\n".join(problems)


def test_the_pages_link_to_each_other():
    # The README links every docs page, so none is reachable from the site alone.
    linked = {(REPOSITORY / target.partition("#")[0]).resolve() for target in relative_links("README.md")}
    missing = [p.name for p in sorted((REPOSITORY / "docs").glob("*.md")) if p.name != "index.md" and p.resolve() not in linked]
    assert not missing, f"README.md links no docs page {missing}"


def test_the_site_lists_every_page():
    nav = re.findall(r"^\s*-\s[^:\n]+:\s*(\S+\.md)\s*$", (REPOSITORY / "mkdocs.yml").read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(nav) == sorted(p.name for p in (REPOSITORY / "docs").glob("*.md"))


def test_the_readme_is_a_front_page():
    size = len((REPOSITORY / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes, more than {README_LIMIT}: move detail into docs/"


def test_the_readme_leads_with_the_two_commands():
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    front = text.split("\n## ", 1)[0]
    blocks = [block.strip("\n") for block in FENCE.findall(front)]
    assert blocks == FRONT_COMMANDS, blocks
