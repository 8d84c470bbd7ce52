"""Requirements for installing the lowest versions pyproject.toml allows (`make test-lowest`).

    python .ci/lowest_versions.py requirements EXTRA... [--test NAME...]
        the package itself (editable, with EXTRA), every requirement of the core and
        of each EXTRA, and the named entries of the ``test`` and ``testing`` extras, as pyproject.toml
        spells them
    python .ci/lowest_versions.py floors-of DIST[:NAME,...]...
        ``name==floor`` for the requirements of each installed DIST (only those
        NAMEs, if given) that carry a ``>=`` floor, run inside the environment: e.g.
        ``aiobotocore:botocore`` for the lowest botocore the installed aiobotocore allows

Install them with ``uv pip install --resolution lowest-direct``: every line printed
here is a direct requirement, so it gets its lowest allowed release, and everything
below it the newest that fits. Deeper floors are followed only where named: most
(wrapt 1.10 under aiobotocore) predate the Python versions the package supports and
say nothing about this code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the copy pip carries
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_FLOOR = re.compile(r">=\s*([^,;\s]+)")


def _name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match[1]).lower()


def _requirements(extras: list[str], test_names: list[str]) -> Iterator[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    yield f"-e .[{','.join(extras)}]" if extras else "-e ."
    yield from project["dependencies"]
    for extra in extras:
        yield from optional[extra]
    wanted = {_name(n) for n in test_names}
    # The project's suite takes its tools from the test extra and the testing extra it
    # includes (the pytest plugin's own: pytest, moto and its server's Flask).
    test = [r for r in optional["test"] + optional["testing"] if _name(r) in wanted]
    missing = wanted - {_name(r) for r in test}
    if missing:
        raise SystemExit(f"not in the test or testing extra of pyproject.toml: {sorted(missing)}")
    yield from test


def _floors_of(args: list[str]) -> Iterator[str]:
    for arg in args:
        dist, _, names = arg.partition(":")
        only = {_name(n) for n in names.split(",") if n}
        for requirement in metadata.requires(dist) or []:
            spec, _, marker = requirement.partition(";")
            floor = _FLOOR.search(spec)
            # Requirements of the DIST's own extras are not installed here.
            if floor and "extra ==" not in marker and (not only or _name(spec) in only):
                # Pinned, not just direct: boto3 (under moto) would pull a direct
                # ``botocore>=floor`` up to its own newest match.
                yield f"{_name(spec)}=={floor[1]}"


def main(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "floors-of":
        lines = list(_floors_of(rest))
    elif command == "requirements":
        extras, _, tests = " ".join(rest).partition("--test")
        lines = list(_requirements(extras.split(), tests.split()))
    else:
        raise SystemExit(__doc__)
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
