"""``python -m zreactor.log URL``: print what a :class:`~zreactor.log.handlers.PUBHandler`
publishes (pyzmq's log watcher: the same options).

It subscribes to ``--topic`` (default: everything) and prints ``topic | text`` per record,
optionally with a timestamp (``--timestamp``, ``--dateformat``), topics padded to a common
width (``--align``) and colours by level (``--color``, needs ``colorama``). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from ..constants import PollEvent, SocketType
from ..context import Context


def main(argv: list[str] | None = None) -> None:
    """Run the watcher until interrupted."""
    parser = argparse.ArgumentParser("ZMQ Log Watcher")
    parser.add_argument("zmq_pub_url", help="URL of a PUB socket a PUBHandler publishes on")
    parser.add_argument("-t", "--topic", default="", help="only topics starting with this")
    parser.add_argument("--timestamp", action="store_true", help="prefix the local time")
    parser.add_argument("--separator", default=" | ", help="between topic and message")
    parser.add_argument("--dateformat", default="%Y-%d-%m %H:%M", help="for --timestamp")
    parser.add_argument("--align", action="store_true", help="pad topics to one width")
    parser.add_argument("--color", action="store_true", help="colour by level (colorama)")
    args = parser.parse_args(argv)
    colors: dict[str, str] = {}
    if args.color:
        import colorama

        colorama.init()
        fore = colorama.Fore
        colors = {"DEBUG": fore.LIGHTCYAN_EX, "INFO": fore.LIGHTWHITE_EX,
                  "WARNING": fore.YELLOW, "ERROR": fore.LIGHTRED_EX,
                  "CRITICAL": fore.LIGHTRED_EX, "__RESET__": fore.RESET}
    ctx = Context()
    sub = ctx.socket(SocketType.SUB)
    sub.subscribe(args.topic.encode("utf8"))
    sub.connect(args.zmq_pub_url)
    widths: dict[int, int] = {}
    try:
        while True:
            if not sub.poll(10, PollEvent.POLLIN):
                continue
            topic, msg = sub.recv_multipart()
            topics = topic.decode("utf8").strip().split(".")
            if args.align:
                topics.extend(" " for _ in range(len(topics), len(widths)))
                for i, part in enumerate(topics):
                    widths[i] = max(widths.get(i, 0), len(part))
                    topics[i] = part.ljust(widths[i])
            level = topics[1].strip() if len(topics) > 1 else topics[0].strip()
            line = ".".join(topics) + args.separator + msg.decode("utf8").strip()
            if args.timestamp:
                line = datetime.now().strftime(args.dateformat) + args.separator + line
            if colors:
                line = colors.get(level, "") + line + colors["__RESET__"]
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(linger=0)
        ctx.term()


if __name__ == "__main__":
    main()
