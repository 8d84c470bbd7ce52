"""``session-storage SUB --help``: each command describes its positional arguments and
shows an example; the exit-code table is in the top-level help, once."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

# Every command and the positional arguments its usage names.
COMMANDS = {
    "ls": ["PREFIX"],
    "files": ["SESSION"],
    "show": ["SESSION", "FILE"],
    "info": ["SESSION", "FILE"],
    "rm": ["SESSION", "FILE"],
    "cp": ["SRC_URL", "DST_URL"],
    "gc": [],
    "rekey": [],
    "import": ["SOURCE", "DB"],
    "events": ["SESSION", "STREAM"],
    "serve": [],
}


def _help(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "session_storage", *args, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_top_level_help_has_the_exit_codes_and_every_command() -> None:
    text = _help()
    assert "exit codes:" in text
    for code in ("0", "1", "2", "3", "4", "5", "130"):
        assert re.search(rf"^  {code}\s+\S", text, re.MULTILINE), code
    for name in COMMANDS:
        assert re.search(rf"^    {name}\s", text, re.MULTILINE), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_shows_an_example_and_describes_its_positionals(name: str) -> None:
    text = _help(name)
    positionals = re.search(r"^positional arguments:\n((?:  .*\n)+)", text, re.MULTILINE)
    for argument in COMMANDS[name]:
        assert positionals is not None, text
        # Named, followed by a description on the same line or the next one.
        assert re.search(rf"^  {argument}\s+\S", positionals[1], re.MULTILINE) or re.search(
            rf"^  {argument}\n\s+\S", positionals[1], re.MULTILINE
        ), f"{name}: {argument} has no description:\n{text}"
    example = re.search(rf"^example:\n  session-storage {name}\b.*$", text, re.MULTILINE)
    assert example is not None, text
    # The table lives in the top-level help only: a pointer here, not a copy.
    assert "130 interrupted" not in text
    assert "exit codes: see session-storage --help" in text
