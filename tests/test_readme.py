"""README names the tests that prove its promises: every one it names exists."""

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


def test_every_test_readme_names_exists() -> None:
    references = _REFERENCE.findall((ROOT / "README.md").read_text())
    assert references, "README names no tests"
    missing = []
    for path, name in references:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and not fnmatch.filter(_defined_names(file), name):
            missing.append(f"{path}::{name}")
    assert missing == [], f"README names tests that do not exist: {missing}"


def test_readme_links_work_on_the_package_index() -> None:
    """README is the package's long description: a relative link such as
    `benchmarks/RESULTS.md` would point nowhere on the index page. Links are absolute
    or to a heading of the README itself; repository paths are written as code."""
    targets = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []
