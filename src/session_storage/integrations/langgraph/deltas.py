"""Channel values stored once, and growing lists stored as what they gained.

A checkpoint's record does not hold every channel value in full (a chat's message list
would then be stored once per checkpoint: storage growing with the square of the
thread). For each channel it holds a :class:`Locator`, and bytes (its *piece*) only for
a value that changed:

- a value equal, byte for byte, to the parent checkpoint's value of that channel keeps
  the parent's locator: nothing new is stored (a value is stored once per version);
- a list whose serialized items start with all of the parent's items (a reducer that
  appends, as ``add_messages`` does) is stored as a slice of its items' bytes;
- anything else (a first value, a fork, a removal, a reducer that rewrites) in full.

The slices follow a Fenwick layout: the ``i``-th value of a line of appends stores the
items added since value ``i & (i - 1)``, so any value is the concatenation of at most
``log2(i) + 1`` pieces whose holders its locator names (read together, in one round
trip), and a line of ``n`` values stores ``O(n log n)`` item bytes, not ``O(n^2)``.

The bytes of a list are msgpack's: an array header, then its items one after another.
msgpack items are self-delimiting, so when the parent's item bytes are a prefix of the
new ones, the first items are the parent's exactly, and the rebuilt value (header plus
pieces) is the serializer's output byte for byte. A value of another type or form (an
encrypting serde's ciphertext, say) never matches and is stored in full.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import NamedTuple

__all__ = [
    "ChannelState",
    "Locator",
    "Part",
    "assemble",
    "encode",
]

Typed = tuple[str, bytes]
"""A value as ``serde.dumps_typed`` gives it."""

_MSGPACK = "msgpack"


class Part(NamedTuple):
    """One piece of a value: held by the record of checkpoint ``holder``."""

    holder: str
    step: int
    """The value's position in its line of appends (0: the value stored in full)."""
    end: int
    """How many item bytes the value has once this piece is added."""


class Locator(NamedTuple):
    """Where the bytes of one channel's value are."""

    kind: str
    """The serializer's type name."""
    items: int | None
    """Items of a list stored in pieces; None when the one part holds the whole value."""
    parts: tuple[Part, ...]
    """Pieces in order; none when the record holds the value in full itself."""


class ChannelState(NamedTuple):
    """A channel's value at one checkpoint, as the next checkpoint's put needs it."""

    typed: Typed
    locator: Locator


def encode(
    checkpoint_id: str,
    values: Mapping[str, Typed],
    parent: Mapping[str, ChannelState] | None,
) -> tuple[dict[str, Locator], dict[str, bytes], dict[str, ChannelState]]:
    """The locators and new pieces of checkpoint ``checkpoint_id`` whose values are
    ``values``, given its parent's (None when unknown: every value is stored in full),
    and the state a child of this checkpoint will need."""
    locators: dict[str, Locator] = {}
    pieces: dict[str, bytes] = {}
    for channel, typed in values.items():
        previous = parent.get(channel) if parent is not None else None
        if previous is not None and previous.typed == typed and previous.locator.parts:
            locators[channel] = previous.locator
            continue
        extended = _extend(checkpoint_id, typed, previous) if previous is not None else None
        if extended is None:
            extended = _root(checkpoint_id, typed)
        locators[channel], pieces[channel] = extended
    state = {k: ChannelState(values[k], locators[k]) for k in values}
    return locators, pieces, state


def _root(checkpoint_id: str, typed: Typed) -> tuple[Locator, bytes]:
    kind, data = typed
    array = _array(kind, data)
    if array is None:
        return Locator(kind, None, (Part(checkpoint_id, 0, len(data)),)), data
    count, start = array
    body = data[start:]
    return Locator(kind, count, (Part(checkpoint_id, 0, len(body)),)), body


def _extend(
    checkpoint_id: str, typed: Typed, previous: ChannelState
) -> tuple[Locator, bytes] | None:
    """The next value of ``previous``'s line if ``typed`` only appends items to it."""
    kind, data = typed
    old = previous.locator
    if old.items is None or not old.parts or kind != old.kind:
        return None
    array = _array(kind, data)
    old_array = _array(*previous.typed)
    if array is None or old_array is None:
        return None
    (count, start), (old_count, old_start) = array, old_array
    old_size = len(previous.typed[1]) - old_start
    if count < old_count or old_size != old.parts[-1].end:
        return None
    if data[start : start + old_size] != previous.typed[1][old_start:]:
        return None  # not an extension: a fork, a removal, a rewrite
    index = old.parts[-1].step + 1
    base = index & (index - 1)
    kept = tuple(part for part in old.parts if part.step <= base)
    body_end = len(data) - start
    piece = data[start + kept[-1].end :]
    return Locator(kind, count, (*kept, Part(checkpoint_id, index, body_end))), piece


def assemble(locator: Locator, piece_of: Callable[[str], bytes], where: str) -> Typed:
    """The value ``locator`` names, its pieces read with ``piece_of(holder)``.

    A piece of the wrong size raises ValueError naming ``where``: the store is damaged
    (a holder rewritten or cut), and a wrong value must not come back silently.
    """
    chunks = []
    size = 0
    for part in locator.parts:
        chunk = piece_of(part.holder)
        if len(chunk) != part.end - size:
            raise ValueError(
                f"{where}: the piece held by checkpoint {part.holder} has {len(chunk)} "
                f"bytes, {part.end - size} expected"
            )
        size = part.end
        chunks.append(chunk)
    if locator.items is None:
        return locator.kind, b"".join(chunks)
    return locator.kind, _header(locator.items) + b"".join(chunks)


def _array(kind: str, data: bytes) -> tuple[int, int] | None:
    """(items, header size) of a msgpack array in its shortest form, else None."""
    if kind != _MSGPACK or not data:
        return None
    first = data[0]
    if 0x90 <= first <= 0x9F:
        count, start = first & 0x0F, 1
    elif first == 0xDC and len(data) >= 3:
        count, start = struct.unpack_from(">H", data, 1)[0], 3
    elif first == 0xDD and len(data) >= 5:
        count, start = struct.unpack_from(">I", data, 1)[0], 5
    else:
        return None
    # Rebuilt values get the shortest header: a longer one (other encoders) is kept whole.
    return (count, start) if _header(count) == data[:start] else None


def _header(count: int) -> bytes:
    if count < 16:
        return bytes((0x90 | count,))
    if count < 1 << 16:
        return b"\xdc" + struct.pack(">H", count)
    return b"\xdd" + struct.pack(">I", count)
