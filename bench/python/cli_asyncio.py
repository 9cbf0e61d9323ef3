"""The cli suite's pipeline written with asyncio and bounded queues (the
system weir's source document describes): a reader task, a transform task
and a writer task joined by asyncio.Queue(maxsize=64).

    python3 cli_asyncio.py IN OUT

Keeps `select(.level == "error") | {id, service, latency_ms}`, one JSON
line out per kept line in, in order.
"""

import asyncio
import json
import sys

CAPACITY = 64
DONE = object()


async def read(path, out):
    with open(path, "rb") as f:
        for line in f:
            await out.put(line)
    await out.put(DONE)


async def transform(inq, out):
    while True:
        line = await inq.get()
        if line is DONE:
            await out.put(DONE)
            return
        record = json.loads(line)
        if record.get("level") == "error":
            kept = {
                "id": record.get("id"),
                "service": record.get("service"),
                "latency_ms": record.get("latency_ms"),
            }
            await out.put(json.dumps(kept, separators=(",", ":"), ensure_ascii=False))


async def write(path, inq):
    with open(path, "w", encoding="utf-8") as f:
        while True:
            text = await inq.get()
            if text is DONE:
                return
            f.write(text)
            f.write("\n")


async def main(src, dst):
    lines = asyncio.Queue(maxsize=CAPACITY)
    kept = asyncio.Queue(maxsize=CAPACITY)
    await asyncio.gather(read(src, lines), transform(lines, kept), write(dst, kept))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
