"""What the two contract suites share: codec lanes, raw access, helpers, fixtures.

The behaviour every backend must show is specified twice over, by what can differ:

- :class:`~tests.support.driver_contract.DriverContract`: what the driver, the engine
  or a codec decides (round trips, keys on the backend, listing, deletes, versions and
  conditional writes, concurrency, event loops). It runs on every lane: each backend x
  engine x codec lane.
- :class:`~tests.support.facade_contract.FacadeContract`: what the facade decides the
  same way whatever is below it (argument checks, refusals that write nothing, batch
  semantics, narrowing, update_session's policy, the events API). It runs once per
  backend, on the fsspec engine and the plain lane, plus the zstd+aes lane on memory
  and local disk.

A backend's test class mixes one lane of tests/support/lanes.py (``make_storage``: a
factory of fresh, empty storages) into one of the contracts. The ``raw`` fixture reads
and writes through the storage's own fsspec filesystem, bypassing the facade under
test, to plant corrupt or foreign files and to check what was written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, ClassVar

import pytest

from session_storage import (
    SessionStorage,
)
from session_storage.backends.coded import codec_of
from session_storage.backends.local.paths import MARKER_NAME
from session_storage.core.keys import encode_segment
from session_storage.storage import scope_of

StorageFactory = Callable[[], SessionStorage]

CODECS: dict[str, Mapping[str, Any]] = {
    "plain": {},
    # Every body compressed (min_size 0: the small states of the suite too) and then
    # encrypted; reads of plain objects planted by ``raw`` still work.
    "zstd+aes": {
        "encryption_keys": {"contract": bytes(range(32)), "retired": bytes(32)},
        "compression": {"method": "zstd", "min_size": 0},
    },
}
"""The codec lanes a backend's contract class can run in (``codec_lanes``)."""


def with_codecs(storage: SessionStorage, lane: str) -> SessionStorage:
    """``storage`` itself in the plain lane, else a storage on the same root with the
    lane's codecs (``storage`` has done no I/O and is dropped)."""
    codecs = CODECS[lane]
    if not codecs:
        return storage
    return SessionStorage.from_settings(dataclasses.replace(storage.settings, **codecs))


WEIRD_IDS = [
    "../x",
    "..",
    ".",
    "a/b",
    "a_b",
    "a\\b",
    "\x00",
    "☃",
    "emoji-🦄",
    "%2F",
    "a b",
    "A",
    "a",
    ".hidden",
    "tilde~",
    "-leading-dash",
]


def session_order(ids: Iterable[str]) -> list[str]:
    """``ids`` in the documented listing order: that of the encoded id plus ``/``."""
    return sorted(ids, key=lambda session_id: encode_segment(session_id) + "/")


async def all_pages(storage: SessionStorage, limit: int) -> list[list[str]]:
    """Every page of ``limit`` ids, each starting after the last id of the one before."""
    pages = [await storage.list_sessions(limit=limit)]
    while pages[-1]:
        pages.append(await storage.list_sessions(limit=limit, start_after=pages[-1][-1]))
    return pages


def flat(pages: list[list[str]]) -> list[str]:
    return [session_id for page in pages for session_id in page]


class Raw:
    """Direct access to the files under a storage's root, bypassing the facade."""

    def __init__(self, storage: SessionStorage, under_test: SessionStorage | None = None) -> None:
        """``storage`` gives the filesystem; ``under_test`` (default: ``storage``) the
        codecs that :meth:`body` opens envelopes with."""
        self.fs = storage.filesystem
        # fsspec's async wrapper strips the wrapped filesystem's protocol only from
        # 2025 on; ask the wrapped one itself.
        inner = getattr(self.fs, "sync_fs", self.fs)
        self.root = inner._strip_protocol(storage.url).rstrip("/")
        self.codec = codec_of(scope_of(under_test or storage).driver)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    async def put(self, relative: str, data: bytes) -> None:
        await self.fs._pipe_file(self.path(relative), data)

    async def get(self, relative: str) -> bytes:
        data: bytes = await self.fs._cat_file(self.path(relative))
        return data

    async def body(self, relative: str) -> bytes:
        """The stored bytes with any codec envelope opened: what the caller stored."""
        data = await self.get(relative)
        codec = self.codec
        return data if codec is None else bytes(codec.decode(self.path(relative), data))

    async def _everything(self) -> list[str]:
        """Every file below the root, relative to it, sorted; dot-named ones included."""
        try:
            found = await self.fs._find(self.root)
        except FileNotFoundError:
            return []
        prefix = self.root + "/"
        return sorted(p[len(prefix) :] for p in found if p.startswith(prefix))

    async def files(self) -> list[str]:
        """Every file below the root, relative to it, sorted.

        Files whose name starts with a dot are left out: local disk keeps its temp
        files and folder locks (``.lock``) under such names, which no key can have.
        """
        return [p for p in await self._everything() if not _dot_named(p)]

    async def hidden(self) -> list[str]:
        """The dot-named files left out by :meth:`files`, relative to the root.

        The marker file at a local store's root (``.session-storage``) stays for the
        store's lifetime and is not counted.
        """
        return [p for p in await self._everything() if _dot_named(p) and p != MARKER_NAME]


class ContractBase:
    """The fixtures of both contracts; a subclass lists its codec lanes."""

    backend: str
    codec_lanes: ClassVar[tuple[str, ...]] = ("plain",)
    """The :data:`CODECS` lanes this backend runs every ``storage`` test in."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # One parameter per codec lane, and no parameter (unchanged test ids) for one lane.
        if len(self.codec_lanes) > 1 and "codec_lane" in metafunc.fixturenames:
            metafunc.parametrize("codec_lane", self.codec_lanes)

    @pytest.fixture
    def codec_lane(self) -> str:
        return self.codec_lanes[0]

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        raise NotImplementedError

    @pytest.fixture
    async def storage(
        self, make_storage: StorageFactory, codec_lane: str
    ) -> AsyncIterator[SessionStorage]:
        async with with_codecs(make_storage(), codec_lane) as storage:
            yield storage

    @pytest.fixture
    async def raw(self, storage: SessionStorage) -> Raw:
        return Raw(storage)

    def peer(self, storage: SessionStorage) -> SessionStorage:
        """Another client of the same root, with its own connections and caches.

        A memory storage is private to its object, so there the peer is the object.
        """
        return SessionStorage.from_settings(storage.settings)


__all__ = [
    "CODECS",
    "WEIRD_IDS",
    "ContractBase",
    "Raw",
    "StorageFactory",
    "all_pages",
    "flat",
    "session_order",
    "with_codecs",
]


def _dot_named(relative: str) -> bool:
    return relative.rpartition("/")[2].startswith(".")
