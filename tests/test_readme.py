"""README, docs/ and CONTRIBUTING name the tests that prove their promises: every one
they name exists. README stays short and its links work on the package index."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `tests/x/test_y.py`, optionally `::test_name` (a `*` stands for any rest of a name).
_REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::([\w*]+))?")


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _documents() -> list[Path]:
    """README.md, every docs/*.md and CONTRIBUTING.md: where promises and tests are named."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "CONTRIBUTING.md"]


def test_every_test_readme_names_exists() -> None:
    assert _REFERENCE.findall((ROOT / "README.md").read_text()), "README names no tests"
    missing = []
    for document in _documents():
        references = _REFERENCE.findall(document.read_text())
        for path, name in references:
            file = ROOT / path
            where = document.relative_to(ROOT)
            if not file.is_file():
                missing.append(f"{where}: {path}")
            elif name and not fnmatch.filter(_defined_names(file), name):
                missing.append(f"{where}: {path}::{name}")
    assert missing == [], f"documents name tests that do not exist: {missing}"


def test_the_docs_that_name_tests_are_all_read() -> None:
    """The documents README points to exist, so the check above reads each of them."""
    names = {p.relative_to(ROOT).as_posix() for p in _documents() if p.is_file()}
    assert {"README.md", "CONTRIBUTING.md", "docs/guarantees.md"} <= names
    assert len([n for n in names if n.startswith("docs/")]) >= 5


def test_readme_is_short() -> None:
    """README is for users; the rest lives in docs/ and CONTRIBUTING.md."""
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines < 500, f"README.md has {lines} lines"


def test_readme_links_work_on_the_package_index() -> None:
    """README is the package's long description: a relative link such as
    `benchmarks/RESULTS.md` would point nowhere on the index page. Links are absolute
    or to a heading of the README itself; repository paths are written as code."""
    targets = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []
