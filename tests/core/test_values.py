"""Values that would not load back as given are refused; documented ones convert.

Refused with a SerializationError naming the JSON path, nothing written: NaN and
infinity (orjson would write null), datetimes, dataclasses, sets, bytes, non-str
keys, ints beyond 64 bits. Converted as the README says: tuples, enums, UUIDs and
subclasses of str/int/dict/list. Every write path goes through the same encoder.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import math
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_storage import BatchError, SerializationError, SessionStorage
from session_storage.core.document import encode_json


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Weird(float, enum.Enum):
    NAN = float("nan")


@dataclasses.dataclass
class Point:
    x: int
    y: int


NAN = float("nan")
INF = float("inf")

# (state, JSON path and a word the message must hold)
REFUSED: list[tuple[dict[Any, Any], str]] = [
    ({"x": NAN}, "$.x is nan"),
    ({"x": INF}, "$.x is inf"),
    ({"x": -INF}, "$.x is -inf"),
    ({"a": [1, 2, 3, {"x": NAN}]}, "$.a[3].x is nan"),
    ({"a": {"b c": [[0.5, -INF]]}}, '$.a["b c"][0][1] is -inf'),
    ({"t": (1, (2, NAN))}, "$.t[1][1] is nan"),
    ({"e": Weird.NAN}, "$.e is nan"),
    ({"d": collections.defaultdict(list, k=[NAN])}, "$.d.k[0] is nan"),
    ({"when": datetime.datetime(2026, 1, 2, 3, 4, 5)}, "$.when is a datetime"),
    ({"day": [datetime.date(2026, 1, 2)]}, "$.day[0] is a date"),
    ({"at": datetime.time(12, 0)}, "$.at is a time"),
    ({"p": Point(1, 2)}, "$.p is a dataclass (Point)"),
    ({"s": {1, 2}}, "$.s is a set"),
    ({"b": b"raw"}, "$.b is bytes"),
    ({"n": {1: "one"}}, "$.n has a key that is not a str: 1"),
    ({"big": 2**64}, "$.big is an int outside the 64-bit range"),
    ({"o": object()}, "$.o is a builtins.object"),
    ({"1st": {"x": NAN}}, '$["1st"].x is nan'),
]

# value -> what it loads back as
CONVERTED: list[tuple[Any, Any]] = [
    ((1, "a", None), [1, "a", None]),
    (Color.RED, "red"),
    (Level.HIGH, 3),
    (uuid.UUID(int=7), "00000000-0000-0000-0000-000000000007"),
    (collections.OrderedDict(b=1, a=2), {"b": 1, "a": 2}),
    (collections.defaultdict(int, a=1), {"a": 1}),
    (None, None),
    (2**64 - 1, 2**64 - 1),
    (-(2**63), -(2**63)),
]


def encoded(value: Any) -> bytes:
    return encode_json({"item": value}, value)


@pytest.mark.parametrize(("state", "says"), REFUSED, ids=[s for _, s in REFUSED])
def test_refused_value_is_named_by_its_json_path(state: dict[Any, Any], says: str) -> None:
    with pytest.raises(ValueError) as info:
        encode_json(state, state)
    assert str(info.value).startswith(says)


@pytest.mark.parametrize(("value", "loaded"), CONVERTED, ids=[repr(v) for v, _ in CONVERTED])
def test_documented_conversions_load_back_as_their_json_form(value: Any, loaded: Any) -> None:
    assert orjson.loads(encoded(value))["item"] == loaded


def test_a_container_that_holds_itself_is_refused() -> None:
    state: dict[str, Any] = {"a": []}
    state["a"].append(state)
    with pytest.raises(ValueError, match="deeper than"):
        encode_json(state, state)


finite = st.floats(allow_nan=False, allow_infinity=False)
leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | finite | st.text()
keys = st.text(alphabet="abxyz_", min_size=1, max_size=3)  # shown as ".key" in paths
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_every_plain_json_value_loads_back_equal(value: Any) -> None:
    assert orjson.loads(encoded(value))["item"] == value


@given(json_values, st.sampled_from([NAN, INF, -INF]), st.randoms(use_true_random=False))
def test_a_non_finite_float_anywhere_is_refused_at_its_path(
    value: Any, bad: float, rnd: Any
) -> None:
    # Plant the bad float at a random place in the value, remembering its path.
    holder: dict[str, Any] = {"v": value}
    node: Any = holder
    key: Any = "v"
    path = "$.v"
    while isinstance(node[key], (list, dict)) and node[key] and rnd.random() < 0.8:
        node = node[key]
        key = rnd.randrange(len(node)) if isinstance(node, list) else rnd.choice(sorted(node))
        path += f"[{key}]" if isinstance(node, list) else f".{key}"
    node[key] = bad
    with pytest.raises(ValueError) as info:
        encode_json(holder, holder)
    assert (
        str(info.value) == f"{path} is {bad!r}, which JSON cannot hold (it would load back as null)"
    )


# -- every write path of the facade -----------------------------------------------


async def test_every_write_path_refuses_nan_and_writes_nothing(
    make: Callable[[], SessionStorage],
) -> None:
    bad: dict[str, Any] = {"turns": [{"score": NAN}]}
    async with make() as storage:
        await storage.store_session("s", {"v": 1})
        with pytest.raises(SerializationError) as info:
            await storage.store_session("s", bad)
        message = str(info.value)
        assert "$.turns[0].score is nan" in message
        assert "'s'" in message and "'state.json'" in message and storage.backend in message
        assert (info.value.session_id, info.value.filename) == ("s", "state.json")
        assert info.value.backend == storage.backend

        with pytest.raises(BatchError) as batch:
            await storage.store_sessions({"ok": {"v": 2}, "s": bad})
        assert isinstance(batch.value.errors["s"], SerializationError)
        assert list(batch.value.errors) == ["s"]

        with pytest.raises(SerializationError, match=r"\$\.turns\[0\]\.score is nan"):
            storage.store_session_nowait("s", bad)
        await storage.flush()

        with pytest.raises(SerializationError, match=r"\$\.turns\[0\]\.score is nan"):
            await storage.update_session("s", lambda state: {**(state or {}), **bad})

        with pytest.raises(SerializationError, match=r"\$\.when is a datetime"):
            await storage.store_session("s", {"when": datetime.datetime.now()})

        with pytest.raises(SerializationError, match=r"\$\[1\] is inf"):
            await storage.append_event("s", "log", [0.0, INF])
        assert await storage.read_events("s", "log") == []

        # Nothing of the refused writes reached the store.
        assert await storage.list_sessions() == ["s"]
        assert await storage.list_files("s") == ["state.json"]
        state = await storage.load_session("s")
        assert state is not None and state["v"] == 1


async def test_none_values_still_store_and_load(make: Callable[[], SessionStorage]) -> None:
    state = {"a": None, "b": [None, 1.5, {"c": None}], "d": math.pi}
    async with make() as storage:
        await storage.store_session("s", state)
        loaded = await storage.load_session("s")
        assert loaded is not None
        assert {k: loaded[k] for k in state} == state
