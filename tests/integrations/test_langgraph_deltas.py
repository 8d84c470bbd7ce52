"""The value encoding of StorageSaver's checkpoints, on its own: growing lists stored as
what they gained and rebuilt byte for byte, anything else in full."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from session_storage.integrations.langgraph.deltas import ChannelState, assemble, encode

SERDE = JsonPlusSerializer()


def _line(values: list[object]) -> tuple[list[dict[str, bytes]], list[ChannelState]]:
    """Each value encoded as the child of the one before; the pieces and states."""
    pieces: list[dict[str, bytes]] = []
    states: list[ChannelState] = []
    parent = None
    for n, value in enumerate(values):
        _, new, state = encode(f"c{n}", {"messages": SERDE.dumps_typed(value)}, parent)
        pieces.append(new)
        states.append(state["messages"])
        parent = state
    return pieces, states


def _rebuilt(pieces: list[dict[str, bytes]], state: ChannelState) -> tuple[str, bytes]:
    return assemble(state.locator, lambda holder: pieces[int(holder[1:])]["messages"], "test")


def test_a_growing_list_is_stored_as_what_it_gained_and_rebuilt_exactly() -> None:
    messages: list[object] = []
    values = []
    for n in range(70):  # past 16 items (a longer msgpack header) and 64 (7 levels)
        messages = [*messages, HumanMessage(f"question {n}", id=f"h{n}"), AIMessage(f"answer {n}")]
        values.append(messages)
    pieces, states = _line(values)
    for value, state in zip(values, states, strict=True):
        assert _rebuilt(pieces, state) == SERDE.dumps_typed(value)
        assert SERDE.loads_typed(_rebuilt(pieces, state)) == value
        # Value i is at most log2(i) + 1 pieces (Fenwick), read in one round trip.
        assert len(state.locator.parts) <= state.locator.parts[-1].step.bit_length() + 1
    stored = sum(len(p.get("messages", b"")) for p in pieces)
    final = len(SERDE.dumps_typed(values[-1])[1])
    # Every value in full would be ~35x the last one; what they gained, O(n log n).
    assert stored < 5 * final


def test_an_equal_value_stores_nothing_and_a_rewrite_is_stored_in_full() -> None:
    first = [HumanMessage("a", id="1"), AIMessage("b", id="2")]
    rewritten = [AIMessage("b", id="2")]  # a removal: not an extension
    pieces, states = _line([first, first, [*first, HumanMessage("c", id="3")], rewritten])
    assert pieces[1] == {} and states[1].locator == states[0].locator
    assert states[2].locator.parts[-1].step == 1
    assert states[3].locator.parts[-1].step == 0 and len(states[3].locator.parts) == 1
    assert _rebuilt(pieces, states[3]) == SERDE.dumps_typed(rewritten)


@pytest.mark.parametrize(
    "typed",
    [("msgpack", b"\x81\xa1a\x01"), ("msgpack+aes", b"\x92\x01\x02"), ("bytes", b"\x92\x01")],
)
def test_anything_but_a_msgpack_list_is_stored_whole(typed: tuple[str, bytes]) -> None:
    kind, data = typed
    locators, pieces, state = encode("c0", {"x": typed}, None)
    grown = (kind, data + b"\x03")
    locators, pieces, _ = encode("c1", {"x": grown}, state)
    assert pieces == {"x": grown[1]} and locators["x"].items is None


def test_a_piece_of_the_wrong_size_is_an_error() -> None:
    values = [[1, 2], [1, 2, 3], [1, 2, 3, 4]]
    pieces, states = _line(values)
    pieces[1]["messages"] += b"\x05"
    with pytest.raises(ValueError, match="piece held by checkpoint c1"):
        _rebuilt(pieces, states[1])
