"""The direct write: one message from the socket's ``send()`` to the kernel, never queued.

Theory of operation
-------------------
The caller shortcut (:mod:`zreactor.zmtp.shortcut`) already lets the socket's thread do the
engine's write: the socket appends the message to the pipe, finds the engine's end asleep,
and instead of waking the I/O thread it borrows the loop and lets the engine *pull*: wake its
end of the pipe, ``read_batch`` until the pipe is empty again, encode the batch, join it and
write it. For a request or a reply that is a batch of one, and the batch machinery (the pipe
woken and put back to sleep, two ``read_batch`` calls, the batch-limit arithmetic) costs more
than the encoding and the ``send()`` together.

So when the message would be *the whole batch*, the socket's thread hands it to the engine
directly (:func:`send_message`): encoded by the connection (a small message, one or two
short frames with nothing queued ahead and no box, in one join: ``small_message_data``; any
other, ``send_batch`` of one message, so CURVE boxes it as any other), written with the
engine's one write path (``send_now``,
which queues what the kernel does not take, exactly as a pull would), and never appended to
the pipe at all. It applies when all of these hold, checked under the engine's loop lease:

* the engine is idle, the shortcut's own test (:meth:`PipeEngine._caller_idle
  <zreactor.zmtp.engine.PipeEngine._caller_idle>`): handshake done, write queue empty,
  output running, write half open, not a subscriber, and no caller write since the last
  read from the peer (so a sender streaming without reading gets the ordinary hand-off
  after its first message, and the I/O thread batches the rest as before);
* the engine's end of the pipe sleeps on an empty queue (:meth:`Pipe.reader_idle
  <zreactor.sockets.pipe.Pipe.reader_idle>`): nothing is queued ahead of this message.

Why it is safe, point by point:

*Message order.* The pipe is empty and the engine's write queue is empty, and the lease keeps
the I/O thread out until the message is in the kernel or queued behind it in the engine: it
goes exactly where a pull would have put it. A message refused here takes the ordinary way
(appended, then the shortcut's pull or ``ACTIVATE_READ``), behind nothing of its own.

*High-water marks and the pipe's accounting.* The pipe counts messages written by the socket
and read by the engine; the difference is what the high-water mark bounds, and every
low-water mark of reads sends the writer an ``ACTIVATE_WRITE``. A direct message is counted
by neither end, so the difference is what it would have been after the pull (written and
read at once), and no credit command is owed. The pipe's state and its sleep flag are
untouched: the engine's end stays asleep on an empty queue, as after a pull, so the next
message written by any path wakes it as usual.

*Multipart, ROUTER identities, envelopes.* The pattern has assembled the whole message (the
socket hands a message to the pattern only on its last frame; REQ's delimiter, REP's
envelope and ROUTER's routing id are already in place or stripped), so what is written is
exactly what the pipe would have carried.

*Monitor events, heartbeats, TTL, EOF.* None is per message: the engine's timers count
reads, not writes, and a write that fails (a reset, a broken pipe) ends the engine through
``send_now`` as a pulled batch would, on this thread under the lease (the shortcut's grammar:
the engine cannot tell). The socket learns of it as of any lost connection.

*Socket close, pipe termination, a second connection.* A terminating pipe does not write
(``Pipe.send`` refuses before it gets here) and a closed engine is not idle. A connection
that arrives meanwhile is a new pipe, attached by a command the socket runs before its next
send; the load balancer then picks among the pipes as before. Which pipe a message goes to
is decided before this path is asked.

*Tracked messages* (``send(track=True)``): the tracker reports done when the message list is
released, which happens here once it is written, as it does after a pull.

The express write
-----------------
A lock-step socket's request or reply is almost always the one shape ``[b"", body]`` with a
short body (a REQ's delimiter and its request; a REP's reply behind the lone delimiter of a
REQ's request), sent on a socket with one connection. For it the way above is still a chain
of general-purpose steps: the socket base builds the message, the pattern adds the
envelope, the load balancer picks, the pipe tests and offers, and the engine and the
connection each ask their own questions, in a dozen calls. The *express write*
(:meth:`CallerShortcut.write_express <zreactor.zmtp.shortcut.CallerShortcut.write_express>`)
is the same direct write for that one shape, in one call from the pattern (REQ and REP,
:mod:`zreactor.sockets.reqrep`, through its pipe's ``send_express``, which makes
``Pipe.send``'s writer-side tests): under the lease, the tests of :func:`send_message` and
of the idle engine (``_caller_idle``) and the connection's small-message tests
(``small_message_data``: in traffic, no box, nothing queued; and a body of at most
:data:`~zreactor.zmtp.frames.SHORT_MAX` bytes), each made once and written out, then the
frame header for the pair looked up (:data:`~zreactor.zmtp.frames.DELIMITED_HEADERS`), one
concatenation and ``send_now``. Every argument above holds as it is, because every test
above is made; only the message's shape is known in advance. What it leaves out, and why:

* the subscriber test: only REQ and REP call it, and their engines are never subscribers;
* the handshake test: the shortcut is served only once the handshake is complete
  (``serve()`` follows it) and nothing undoes a handshake;
* the boxes, multipart, a long frame: refused (False, nothing done), and the pattern takes
  the general path, which asks everything again and boxes or batches as it does.

It counts in ``CallerShortcut.express_writes`` (a part of ``direct_writes``), and it moves
the held read exactly as :meth:`~zreactor.zmtp.shortcut.CallerShortcut.write_direct` does.

Socket's thread, under the engine's loop lease (the shortcut takes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import ZmtpEngine

__all__ = ["send_message"]


def send_message(engine: ZmtpEngine, msg: list[bytes]) -> bool:
    """Write ``msg`` (a whole message, frames ``bytes``) on this thread, bypassing the pipe,
    if the engine is idle and nothing is queued in the pipe (module docstring).

    The caller holds the engine's loop lease. Returns False, having done nothing, when the
    message must take the pipe.
    """
    pipe = engine.session.pipe
    if pipe is None or not pipe.reader_idle() or not engine._caller_idle():
        return False
    # encoded and written here, in the engine's one write path (only an engine that
    # writes_direct comes here: a ZmtpEngine); one call, no pull
    engine._caller_mark = engine._reads  # (a caller write: one per read from the peer)
    conn = engine.conn
    data = conn.small_message_data(msg)  # (a request, a reply: one join, no list)
    if data is not None:
        engine.send_now((data,), len(data))
    else:
        engine._write_encoded(conn.send_batch((msg,)), 1)
    return True
