"""A graph stopped by ``interrupt()`` is resumed by a new process, on local disk and S3,
and ends as the same graph on InMemorySaver ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from session_storage import SessionStorage, SyncSessionStorage
from session_storage.integrations.langgraph import StorageSaver
from session_storage.pytest_plugin import s3_storage_options

from ..support.langgraph_support import build_interrupting_graph

ROOT = Path(__file__).resolve().parents[2]
CONFIG: dict[str, Any] = {"configurable": {"thread_id": "support-ticket-7"}}

RESUME = textwrap.dedent(
    """
    import json, sys
    from langgraph.types import Command
    from session_storage import SyncSessionStorage
    from session_storage.integrations.langgraph import StorageSaver
    from tests.support.langgraph_support import build_interrupting_graph

    url, options, config = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    with SyncSessionStorage(url, options) as sync:
        graph = build_interrupting_graph(StorageSaver(sync))
        waiting = graph.get_state(config)
        print(json.dumps({"next": list(waiting.next),
                          "asked": waiting.tasks[0].interrupts[0].value}))
        print(json.dumps(graph.invoke(Command(resume="approved"), config)))
    """
)


@pytest.fixture(params=["file", "s3"])
def location(
    request: pytest.FixtureRequest, tmp_path: Path, make_s3_storage: Callable[..., SessionStorage]
) -> tuple[str, dict[str, Any]]:
    if request.param == "file":
        return str(tmp_path / "checkpoints"), {}
    endpoint = request.getfixturevalue("moto_s3_server")
    return make_s3_storage("graphs").url, s3_storage_options(endpoint)


def test_interrupt_resumes_in_a_new_process(location: tuple[str, dict[str, Any]]) -> None:
    url, options = location
    with SyncSessionStorage(url, options) as sync:
        graph = build_interrupting_graph(StorageSaver(sync))
        graph.invoke({"messages": ["refund please"]}, CONFIG)
        assert graph.get_state(CONFIG).next == ("ask",)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", RESUME, url, json.dumps(options), json.dumps(CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    waiting, final = (json.loads(line) for line in result.stdout.splitlines())
    assert waiting == {"next": ["ask"], "asked": {"question": "approve turn 1?"}}

    reference = build_interrupting_graph(InMemorySaver())
    reference.invoke({"messages": ["refund please"]}, CONFIG)
    expected = reference.invoke(Command(resume="approved"), CONFIG)
    assert final == expected
    assert final["messages"][-1] == "human:approved"

    # What the other process wrote is what this one reads back, history included.
    with SyncSessionStorage(url, options) as sync:
        graph = build_interrupting_graph(StorageSaver(sync))
        assert graph.get_state(CONFIG).values == expected
        steps = [s.metadata["step"] for s in graph.get_state_history(CONFIG)]
        assert steps == [s.metadata["step"] for s in reference.get_state_history(CONFIG)]
