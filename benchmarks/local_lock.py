"""What the folder lock costs a plain store on local disk.

Run: ``.venv/bin/python benchmarks/local_lock.py [folder]`` (default: a temp folder).
Prints microseconds per 1 KB store with and without the lock, from one thread and
from eight threads storing into the same folder (best of seven alternating rounds).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from session_storage.backends.local.paths import LocalRoot
from session_storage.backends.local.write import write

N = 1000
ROUNDS = 7
THREADS = 8
DATA = os.urandom(1024)


def per_store_us(folder: str, lock: bool, threads: int) -> float:
    paths = [os.path.join(folder, f"f{i % 50}.bin") for i in range(N)]

    def store(path: str) -> None:
        write(LocalRoot(folder), path, DATA, None, False, lock_plain=lock, fsync=False)

    start = time.perf_counter()
    if threads == 1:
        for path in paths:
            store(path)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(store, paths))
    return (time.perf_counter() - start) / N * 1e6


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory(dir=base) as folder:
        for threads in (1, THREADS):
            # Alternate the two variants and keep each one's best round, so that
            # noise from other work on the machine hits both alike.
            results = {False: float("inf"), True: float("inf")}
            for _ in range(ROUNDS):
                for lock in (False, True):
                    results[lock] = min(results[lock], per_store_us(folder, lock, threads))
            print(
                f"{threads} thread(s), {N} stores of 1 KB: "
                f"{results[False]:.1f} us without the lock, {results[True]:.1f} us with it "
                f"(+{results[True] - results[False]:.1f} us)"
            )


if __name__ == "__main__":
    main()
