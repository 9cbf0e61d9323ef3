"""Fetch BASE/items/0 .. BASE/items/N-1 with aiohttp, at most C at once.

The idiomatic asyncio client: one ClientSession, one task per URL, an
asyncio.Semaphore(C) around each request. Prints one JSON object:
{"ok": .., "failed": .., "secs": .., "python": ".."}.

usage: python aiohttp_fetch.py BASE N C
"""

import asyncio
import json
import platform
import sys
import time

import aiohttp


async def fetch(session, semaphore, url):
    async with semaphore:
        try:
            async with session.get(url) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False


async def main(base, n, concurrency):
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(fetch(session, semaphore, f"{base}/items/{i}") for i in range(n))
        )
        secs = time.perf_counter() - start
    ok = sum(results)
    print(json.dumps({"ok": ok, "failed": n - ok, "secs": secs,
                      "python": platform.python_version()}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
