#!/usr/bin/env python3
"""bench/isolation's webhook receivers (stdlib asyncio): three ports, one
destination each, as written in the URLs: OK answers 200 at once, SLOW after
5 s, HANG never (the worker's delivery timeout ends it).

Usage: iso_receiver.py OK_PORT SLOW_PORT HANG_PORT
Counts of requests per receiver are printed at exit (SIGTERM)."""

import asyncio
import signal
import sys

COUNTS = {"ok": 0, "slow": 0, "hang": 0}
DELAY = {"ok": 0.0, "slow": 5.0, "hang": None}


async def handle(kind, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            COUNTS[kind] += 1
            delay = DELAY[kind]
            if delay is None:
                await reader.read()  # until the client gives up
                return
            if delay:
                await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(ports):
    servers = []
    for kind, port in zip(("ok", "slow", "hang"), ports):
        servers.append(await asyncio.start_server(
            lambda r, w, k=kind: handle(k, r, w), "127.0.0.1", port, backlog=4096))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await stop.wait()
    print(" ".join(f"{k}={v}" for k, v in COUNTS.items()), flush=True)


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:4]]))
