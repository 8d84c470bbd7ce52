"""AES-GCM nonces: drawn from os.urandom in batches, and never handed out twice, across
batch refills, threads, and a fork (whose child must not repeat its parent's batch)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from session_storage.codecs.encryption import NONCE_BYTES, fresh_nonce

DRAWS = 3 * 256 + 7
"""More than a few batches, ending mid-batch."""


def test_nonces_are_fresh_across_batches_and_threads() -> None:
    def draw(_: int) -> list[bytes]:
        return [fresh_nonce() for _ in range(DRAWS)]

    with ThreadPoolExecutor(4) as pool:
        drawn = [nonce for batch in pool.map(draw, range(8)) for nonce in batch]
    assert all(len(nonce) == NONCE_BYTES for nonce in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_does_not_repeat_its_parents_nonces() -> None:
    fresh_nonce()  # the parent holds a batch, part used, when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next nonces, then leave without cleanup
        try:
            os.write(write, b"".join(fresh_nonce() for _ in range(64)))
        finally:
            os._exit(0)
    os.close(write)
    try:
        received = b""
        while chunk := os.read(read, 4096):
            received += chunk
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    child = {received[at : at + NONCE_BYTES] for at in range(0, len(received), NONCE_BYTES)}
    parent = {fresh_nonce() for _ in range(64)}
    assert len(child) == 64
    assert not child & parent
