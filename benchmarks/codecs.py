"""(5) Codecs: zstd on a long chat history, and what compression and encryption cost.

- the compression ratio of zstd (level 3) on a generated 200-turn chat history with
  user / assistant / tool messages and tool calls (target: at least 3× smaller);
- store + load of that state on S3 (moto), zstd + AES-256-GCM against plain (target:
  at most 1.10×): fewer bytes on the wire pay for the CPU;
- store + load of a 1 KiB state on memory, encryption against plain (target: at most
  1.5×): here there is no wire, so the ratio is the codec's CPU against the facade's;
- where compression starts to pay: the ratio on JSON states of a few sizes, which
  sets the default ``min_size``.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from session_storage import SessionStorage
from session_storage.codecs.compression import Compression

from .backends import Backend
from .measure import Row, compare, us
from .overhead import state_of_one_kib

KEY = bytes(range(32))
CODED: dict[str, Any] = {"encryption_keys": {"bench": KEY}, "compression": "zstd"}

_WORDS = (
    "the order was shipped on monday and should arrive within three business days "
    "please confirm your address before we continue refund policy allows returns for "
    "thirty days invoice number account settings password reset link expired customer "
    "asked about pricing tiers enterprise plan includes single sign on audit logs and "
    "priority support the weather api returned rain with temperatures around twelve "
    "degrees flight search found four options departing after noon hotel near station"
).split()


def chat_history(turns: int = 200, seed: int = 7) -> dict[str, Any]:
    """A session state like an agent's: ``turns`` user turns, each answered by the
    assistant, a third of them through a tool call and its result."""
    rng = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))

    messages: list[dict[str, Any]] = [{"role": "system", "content": text(30, 60)}]
    for turn in range(turns):
        messages.append({"role": "user", "content": text(5, 40)})
        if turn % 3 == 0:
            call_id = f"call_{rng.getrandbits(64):016x}"
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": rng.choice(
                                    ("search_orders", "get_weather", "find_flights")
                                ),
                                "arguments": orjson.dumps(
                                    {"query": text(2, 6), "limit": rng.randint(1, 20)}
                                ).decode(),
                            },
                        }
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": orjson.dumps(
                        {
                            "results": [
                                {"id": rng.randint(1, 10**6), "text": text(5, 15)}
                                for _ in range(rng.randint(1, 4))
                            ]
                        }
                    ).decode(),
                }
            )
        messages.append({"role": "assistant", "content": text(20, 120)})
    return {"user_id": "user-42", "model": "gpt-x", "turns": turns, "messages": messages}


def zstd_ratio(state: dict[str, Any]) -> tuple[int, int]:
    data = orjson.dumps(state)
    return len(data), len(Compression().compressor()(data))


async def run(backend: Backend, runs: int, pairs: int) -> list[Row]:
    rows: list[Row] = []
    if backend.name == "memory":
        plain_size, packed_size = zstd_ratio(chat_history())
        ratio = plain_size / packed_size
        rows.append(
            Row(
                bench="codecs: zstd on a 200-turn chat history",
                backend="(cpu)",
                ours=f"{packed_size:,} B",
                baseline=f"{plain_size:,} B of JSON",
                ratio=1 / ratio,
                target="≥ 3× smaller",
                met=ratio >= 3,
                note=f"{ratio:.1f}× smaller at level 3",
            )
        )
        rows.append(
            await _pair(
                backend,
                state_of_one_kib(),
                {"encryption_keys": {"b": KEY}},
                "codecs: store+load 1 KiB, encryption",
                1.5,
                runs,
                pairs,
            )
        )
        rows.append(_threshold_row())
    if backend.name == "s3":
        rows.append(
            await _pair(
                backend,
                chat_history(),
                CODED,
                "codecs: store+load 200-turn history, zstd+encryption",
                1.10,
                runs,
                max(pairs // 4, 5),
            )
        )
    return rows


async def _pair(
    backend: Backend,
    state: dict[str, Any],
    codecs: dict[str, Any],
    bench: str,
    target: float,
    runs: int,
    pairs: int,
) -> Row:
    plain = backend.storage()
    coded = backend.storage(**codecs)
    async with plain, coded:

        def job(storage: SessionStorage) -> Any:
            async def go() -> None:
                for i in range(pairs):
                    await storage.store_session(f"s{i % 8}", state)
                    await storage.load_session(f"s{i % 8}")

            return go

        result = await compare(job(coded), job(plain), runs)
    size = len(orjson.dumps(state))
    return Row(
        bench=bench,
        backend=backend.name,
        ours=us(result.ours / pairs),
        baseline=f"{us(result.theirs / pairs)} plain",
        ratio=result.ratio,
        target=f"≤ {target:.2f}×",
        met=result.ratio <= target,
        note=f"per store+load of {size:,} B of JSON",
    )


def _threshold_row() -> Row:
    """zstd's saving on small JSON states: where a threshold belongs."""
    compress = Compression().compressor()
    seen = []
    for size in (128, 256, 512, 1024, 4096):
        state = chat_history(turns=40, seed=size)
        data = orjson.dumps(state)[:size]
        seen.append(f"{size} B→{len(compress(data)) + 6}")
    return Row(
        bench="codecs: zstd on JSON prefixes (+6 B envelope)",
        backend="(cpu)",
        ours="; ".join(seen),
        note="compression skipped below min_size (default 512 B)",
    )
