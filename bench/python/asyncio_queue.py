#!/usr/bin/env python3
"""Throughput of asyncio.Queue, the reference weir's Queue is modelled on.

usage: asyncio_queue.py PRODUCERS CONSUMERS CAPACITY ITEMS

Producers put the ints 0..ITEMS (split between them) into an
asyncio.Queue(maxsize=CAPACITY); consumers get until they see a sentinel
(one per consumer, put after every producer is done). Prints one JSON line:
{"items_per_sec": ..., "seconds": ..., "items": ..., "python": "..."}.
Timing covers the tasks only, not interpreter start-up. Run by
`cargo run --release -p weir-bench -- asyncio`.
"""

import asyncio
import json
import platform
import sys
import time

_DONE = object()


async def produce(queue: asyncio.Queue, start: int, end: int) -> None:
    put = queue.put
    for n in range(start, end):
        await put(n)


async def consume(queue: asyncio.Queue) -> tuple[int, int]:
    get = queue.get
    count = 0
    total = 0
    while True:
        n = await get()
        if n is _DONE:
            return count, total
        count += 1
        total += n


async def run(producers: int, consumers: int, capacity: int, items: int) -> float:
    queue: asyncio.Queue = asyncio.Queue(maxsize=capacity)
    started = time.perf_counter()
    getters = [asyncio.create_task(consume(queue)) for _ in range(consumers)]
    putters = [
        asyncio.create_task(
            produce(queue, items * i // producers, items * (i + 1) // producers)
        )
        for i in range(producers)
    ]
    await asyncio.gather(*putters)
    for _ in range(consumers):
        await queue.put(_DONE)
    results = await asyncio.gather(*getters)
    elapsed = time.perf_counter() - started
    count = sum(c for c, _ in results)
    total = sum(t for _, t in results)
    if count != items or total != items * (items - 1) // 2:
        raise SystemExit(f"items lost or duplicated: got {count} of {items}")
    return elapsed


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    producers, consumers, capacity, items = (int(a) for a in sys.argv[1:])
    if min(producers, consumers, capacity, items) < 1:
        # maxsize=0 would silently mean unbounded in asyncio: refuse it.
        raise SystemExit("every argument must be >= 1")
    elapsed = asyncio.run(run(producers, consumers, capacity, items))
    print(
        json.dumps(
            {
                "items_per_sec": items / elapsed,
                "seconds": elapsed,
                "items": items,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
