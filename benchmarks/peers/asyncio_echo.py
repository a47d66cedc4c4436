"""A plain ``asyncio.start_server`` echo server: the standard library's answer to EMFILE.

The EMFILE benchmark runs this next to zreactor to show what asyncio does out of the box.
Nothing here is tuned: it is the echo server from the asyncio documentation.

What to expect (CPython's ``selector_events._accept_connection``): when ``accept()`` fails
with EMFILE, ENFILE, ENOBUFS or ENOMEM, asyncio logs the error through the loop's exception
handler, removes the listener from the selector and re-adds it after a fixed
``ACCEPT_RETRY_DELAY`` (one second). So it does not spin, but clients whose handshake the
kernel completed wait in the backlog, unanswered, in one-second steps, for as long as the
process stays out of descriptors; nobody ever tells them no.

Contract shared by every server the benchmark runs: ``--host``/``--port`` (port 0 picks a free
one), the first line on stdout is ``listening tcp://HOST:PORT`` (flushed), then every byte
received on a connection is sent back on it, until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = await asyncio.start_server(_echo, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening tcp://{bound_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
