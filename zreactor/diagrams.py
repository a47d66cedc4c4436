"""State diagrams for the documentation, generated from the machines themselves.

Every state machine in zreactor is a :class:`~zreactor.reactor.fsm.Machine`: two enums and
one module-level table (h11's rule: the table *is* the machine). This module lists them all
(:func:`machines`), draws each with the one renderer,
:func:`~zreactor.reactor.fsm.render_mermaid`, assembles ``docs/STATE_MACHINES.md``
(:func:`state_machines_doc`), and refreshes the diagrams other pages embed
(:data:`EMBEDDED`: the n-th ```` ```mermaid ```` block of a page is the n-th machine listed
for it). ``tests/test_docs.py`` regenerates all of it and fails if a committed copy drifted,
so a diagram can never disagree with the code.

Regenerate after changing a table::

    python -m zreactor.diagrams --write      # docs/STATE_MACHINES.md and the embedded blocks
    python -m zreactor.diagrams              # print docs/STATE_MACHINES.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from .reactor.fsm import Machine, render_mermaid

__all__ = ["EMBEDDED", "Diagram", "machines", "refresh_embedded", "state_machines_doc"]


class Diagram(NamedTuple):
    """One machine as the docs show it."""

    title: str
    #: ``path: NAME`` of the table in the source tree
    where: str
    text: str
    machine: Machine[Any, Any]


def machines() -> dict[str, Diagram]:
    """Every machine drawn in the docs, by a short key, in the order of STATE_MACHINES.md."""
    from .reactor.accept_states import ACCEPT
    from .reactor.connecter import CONNECTER_TRANSITIONS
    from .reactor.engine import ENGINE_TRANSITIONS
    from .reactor.own import OWN_TRANSITIONS
    from .reactor.stream import READ_TRANSITIONS, WRITE_TRANSITIONS
    from .sockets.pipe import PIPE_TRANSITIONS
    from .sockets.reqrep import REP_TRANSITIONS, REQ_TRANSITIONS
    from .sockets.session import SESSION_TRANSITIONS
    from .sockets.socket import SOCKET_TRANSITIONS
    from .zmtp import state as zmtp_state
    from .zmtp import curve, plain
    from .zmtp.engine import INPUT_FLOW, OUTPUT_FLOW
    from .zmtp.mechanisms import NULL_TRANSITIONS
    from .zmtp.shortcut import READER

    return {
        "pipe": Diagram(
            "Pipe termination", "zreactor/sockets/pipe.py: PIPE_TRANSITIONS",
            "libzmq's `pipe_t` handshake: a delimiter travels in-band after the queued "
            "messages, `PIPE_TERM`/`PIPE_TERM_ACK` travel as commands.", PIPE_TRANSITIONS),
        "zmtp": Diagram(
            "ZMTP connection", "zreactor/zmtp/state.py: TRANSITIONS",
            "The sans-I/O codec's handshake: greeting, then the mechanism's READY exchange, "
            "then traffic.", zmtp_state.TRANSITIONS),
        "null": Diagram(
            "ZMTP security: NULL", "zreactor/zmtp/mechanisms.py: NULL_TRANSITIONS",
            "READY both ways (with ZAP, the server waits for its verdict first).",
            NULL_TRANSITIONS),
        "plain-client": Diagram(
            "ZMTP security: PLAIN client", "zreactor/zmtp/plain.py: CLIENT_TRANSITIONS",
            "HELLO with the credentials, then WELCOME, INITIATE and READY.",
            plain.CLIENT_TRANSITIONS),
        "plain-server": Diagram(
            "ZMTP security: PLAIN server", "zreactor/zmtp/plain.py: SERVER_TRANSITIONS",
            "HELLO checked (through ZAP), WELCOME, then INITIATE answered with READY.",
            plain.SERVER_TRANSITIONS),
        "curve-client": Diagram(
            "ZMTP security: CURVE client", "zreactor/zmtp/curve.py: CLIENT_TRANSITIONS",
            "HELLO to the server's long-term key, WELCOME with its cookie, INITIATE with the "
            "vouch and properties, READY.", curve.CLIENT_TRANSITIONS),
        "curve-server": Diagram(
            "ZMTP security: CURVE server", "zreactor/zmtp/curve.py: SERVER_TRANSITIONS",
            "HELLO answered with WELCOME and forgotten (the cookie carries the state), INITIATE "
            "verified, the ZAP verdict, READY.", curve.SERVER_TRANSITIONS),
        "zmtp-input": Diagram(
            "ZMTP engine: input flow", "zreactor/zmtp/engine.py: INPUT_FLOW",
            "Blocked while the pipe to the socket is full; entering a state pauses or resumes "
            "reading the socket.", INPUT_FLOW),
        "zmtp-output": Diagram(
            "ZMTP engine: output flow", "zreactor/zmtp/engine.py: OUTPUT_FLOW",
            "Blocked while the write queue is above its high-water mark: nothing is pulled "
            "from the pipe (the same table as the input flow).", OUTPUT_FLOW),
        "caller-read": Diagram(
            "ZMTP engine: who reads the fd", "zreactor/zmtp/shortcut.py: READER",
            "Caller I/O: the loop, a waiting socket's thread, or nobody between a holding "
            "socket's calls (*held*, until its next wait or the loop's tick); entering a "
            "state sets the loop's read interest to match.", READER),
        "engine": Diagram(
            "Engine lifecycle", "zreactor/reactor/engine.py: ENGINE_TRANSITIONS",
            "Every engine: `attached -> (readable | writable | timer | call)* -> "
            "closed(reason)`.", ENGINE_TRANSITIONS),
        "stream-read": Diagram(
            "Stream engine: reading half", "zreactor/reactor/stream.py: READ_TRANSITIONS",
            "Entering a state sets the poller's read interest to match.", READ_TRANSITIONS),
        "stream-write": Diagram(
            "Stream engine: writing half", "zreactor/reactor/stream.py: WRITE_TRANSITIONS",
            "`shutdown_write()`: the FIN goes out once the queue is flushed.",
            WRITE_TRANSITIONS),
        "own": Diagram(
            "Ownership handshake", "zreactor/reactor/own.py: OWN_TRANSITIONS",
            "libzmq's `own_t`: `term_req / term / term_ack` down and up the tree.",
            OWN_TRANSITIONS),
        "connecter": Diagram(
            "Connecter", "zreactor/reactor/connecter.py: CONNECTER_TRANSITIONS",
            "Reconnection with libzmq's backoff.", CONNECTER_TRANSITIONS),
        "listener": Diagram(
            "Listener: the accept path", "zreactor/reactor/accept_states.py: ACCEPT",
            "What a listener does when accept() fails (see [LISTENER.md](LISTENER.md)).",
            ACCEPT),
        "socket": Diagram(
            "Socket life", "zreactor/sockets/socket.py: SOCKET_TRANSITIONS",
            "`Context.term()` stops every socket (blocking calls fail with ETERM); the "
            "application closes it.", SOCKET_TRANSITIONS),
        "req": Diagram(
            "REQ", "zreactor/sockets/reqrep.py: REQ_TRANSITIONS",
            "One request, then its reply; `EFSM` otherwise (see [reqrep.md](reqrep.md)).",
            REQ_TRANSITIONS),
        "rep": Diagram(
            "REP", "zreactor/sockets/reqrep.py: REP_TRANSITIONS",
            "Receive a request, send its reply; `EFSM` otherwise.", REP_TRANSITIONS),
        "session": Diagram(
            "Session linger", "zreactor/sockets/session.py: SESSION_TRANSITIONS",
            "Delivering what is queued after `close()` (see [SESSION.md](SESSION.md)).",
            SESSION_TRANSITIONS),
    }


#: Pages that embed diagrams: the n-th mermaid block of the page draws the n-th key.
EMBEDDED: dict[str, tuple[str, ...]] = {
    "reqrep.md": ("req", "rep"),
    "SESSION.md": ("session",),
    "LISTENER.md": ("listener",),
}

_BLOCK = re.compile(r"```mermaid\n.*?```", re.S)


def _block(diagram: Diagram) -> list[str]:
    body = render_mermaid(diagram.machine).rstrip("\n")
    return [f"## {diagram.title}", "", f"From `{diagram.where}`. {diagram.text}", "",
            "```mermaid", body, "```", ""]


def state_machines_doc() -> str:
    """The full text of ``docs/STATE_MACHINES.md``."""
    parts = [
        "# State machines",
        "",
        "Generated by `python -m zreactor.diagrams` from the machines in the code (each a",
        "`zreactor.reactor.fsm.Machine`: `(state, event) -> target`; an edge reads",
        "`event / action`, a note names a state's entry action); `tests/test_docs.py` fails",
        "if this file and the tables disagree. What the listener's, the session's and REQ/REP's",
        "states mean is told in [LISTENER.md](LISTENER.md), [SESSION.md](SESSION.md) and",
        "[reqrep.md](reqrep.md), which embed the same diagrams.",
        "",
        "A machine of your own (an engine's protocol, say) is written the same way:",
        "",
        "```python",
        "DOOR = Machine(\"door\", Door.SHUT, {",
        "    (Door.SHUT, Push.OPEN): Row(Door.AJAR, _creak),  # a row may carry an action",
        "    (Door.AJAR, Push.CLOSE): Door.SHUT,",
        "}, attr=\"door\", entry={Door.SHUT: _lock})        # and a state an entry action",
        "",
        "DOOR.peek(obj, Push.OPEN)   # the row it would take, or raise; changes nothing",
        "DOOR.fire(obj, Push.OPEN)   # commit obj.door, run _creak; IllegalMove if unlisted",
        "with DOOR.record() as steps: ...  # tests: which rows a scenario took",
        "```",
        "",
        "A machine fired per message keeps its state in a `Cell` and is a `CellMachine`; a",
        "path that has just tested the state it moves from fires a `Move`, the row looked up",
        "once (`REQ_TRANSITIONS.move(SEND_REQUEST, SEND).fire(turn)`): `reactor/fsm.py`,",
        "*Cells* and *Known moves*.",
        "",
    ]
    for diagram in machines().values():
        parts += _block(diagram)
    return "\n".join(parts).rstrip("\n") + "\n"


def refresh_embedded(text: str, keys: tuple[str, ...]) -> str:
    """``text`` with its mermaid blocks redrawn from the machines ``keys`` names, in order.

    Raises:
        ValueError: the page has a different number of mermaid blocks than ``keys``.
    """
    found = _BLOCK.findall(text)
    if len(found) != len(keys):
        raise ValueError(f"{len(found)} mermaid blocks for {len(keys)} machines {keys}")
    drawn = iter(keys)
    every = machines()
    return _BLOCK.sub(
        lambda _: "```mermaid\n" + render_mermaid(every[next(drawn)].machine) + "```", text)


def _write(docs: Path) -> None:
    (docs / "STATE_MACHINES.md").write_text(state_machines_doc())
    for page, keys in EMBEDDED.items():
        path = docs / page
        path.write_text(refresh_embedded(path.read_text(), keys))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write(Path(__file__).resolve().parent.parent / "docs")
    else:
        print(state_machines_doc(), end="")
