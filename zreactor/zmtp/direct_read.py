"""The direct read: one message from the kernel to the socket's waiting ``recv()``, never queued.

Theory of operation
-------------------
The mirror of the direct write (:mod:`zreactor.zmtp.direct`). A socket that waits in
``recv()`` on its one connection's lent or held fd reads that fd itself when it becomes
readable, under the engine's loop lease, through the engine's one read path
(:mod:`zreactor.zmtp.shortcut`, *The read*). What it reads the engine decodes and writes to
the pipe; the socket's end, woken by hand around the read, is activated, the pattern hears
``read_activated`` and puts the pipe back in its fair queue, and only then does ``recv()``
find the message, by asking the pattern, which asks the fair queue, which reads the pipe.
For a reply that is the only message in the pipe, every one of those steps exists to move
one list from one call to the next on the same thread.

So when the read would leave *exactly one message alone in the pipe*, the engine hands it to
the waiting caller instead (``ZmtpEngine._caller_read_direct``, which the shortcut's
``take_back`` calls in place of its first read; the engine keeps the state of its catch to
itself): decoded by the one decoder, in the one read path
(``read_once`` → ``data_received`` → ``_deliver``: only where ``_deliver`` would write the
batch to the pipe does it put the message in the caller's hands; a chunk that is exactly one
short message, the request or the reply itself, is recognised where it is read, in one
step, :mod:`zreactor.zmtp.frames`, *A lone message*, and handed over as ``_deliver`` would:
*The express read*, below),
and the socket gives it to its pattern (``xrecv_direct``), which checks it as it checks every
message it reads. It applies when all of these hold:

* the socket asked for it: it waits in ``recv()`` on one connection's fd, its end of the pipe
  asleep (:func:`zreactor.sockets.caller_wait.wait`), and its pattern takes messages this way
  (REQ, REP: ``Socket.xrecv_direct``);
* checked by the engine under its loop lease before the read, it may read here
  (``_caller_read_fd``'s test: handshake done, input running, read half open; so its backlog
  is empty) and the pipe would take the message and give it to the reader first
  (:meth:`Pipe.write_alone <zreactor.sockets.pipe.Pipe.write_alone>`: the engine's end is
  writable, the high-water mark leaves room, nothing is queued);
* the read brought one whole message and nothing else: one message batch of one message, no
  command (PING, PONG, a subscription), no second message, no partial frame completed into
  a message together with another; a small read (under
  :data:`~zreactor.reactor.readbuffer.MIN_SPACE`, the engine's own notion of a request or a
  reply, *Batching, in*). Anything else is delivered by the same call exactly as before:
  to the pipe, the caller's ``settle`` activating it.

*The express read.* Where the socket holds the fd (``Reader.HELD``: REQ, REP) and the read
is a ``recv()`` chunk (``asks_buffer`` false: the read after a small one, *Batching, in*),
the shortcut makes the direct read's tests and that ``recv()`` itself, under the lease
(``CallerShortcut.read_express``), and parses the chunk there (``conn.receive_lone``), before
anything is decoded or written: a lone message
is counted as ``read_once`` and ``_deliver`` count it (``bytes_received``, ``_reads``) and
handed over, nothing else done. Any other outcome is handed, as it was read, to the rest of
the one read path (``_caller_read_rest``: ``chunk_received``, ``read_failed``), which
delivers it exactly as ``read_once`` would have, a lone message its decoding finds still
caught: nothing is read twice, nothing skipped. The wait on the held fd is part of the same
call (:mod:`.shortcut`, *The express read*).

Why it is safe, point by point:

*Message order.* Nothing is queued in the pipe and the engine has no backlog, so nothing read
earlier is waiting to be delivered; the lease keeps the I/O thread out while the read runs, so
nothing read later can overtake it; and the fd is the socket's (lent or held), so the loop
reads nothing of this connection until it is given back. The message is the next one the
pattern would have read, and it reads it now.

*High-water marks and the pipe's accounting.* As for the direct write: the pipe counts
messages written by the engine and read by the socket, and their difference is what the
high-water mark bounds. A message read directly is counted by neither end: the difference is
what it would have been once the socket read it, and no ``ACTIVATE_WRITE`` is owed. The read
is made only if the pipe would have taken the message (``write_alone``): a full pipe (the
socket's ``rcvhwm``, or a credit still on its way) takes the ordinary way, into the engine's
backlog with its input blocked, as before. The pipe's states and sleep flags are untouched
(the socket's end rests asleep on an empty queue, as it was).

*Multipart, envelopes, ROUTER/DEALER/REQ/REP.* The message is a whole message, as the pipe
would carry it; the pattern's ``xrecv_direct`` applies the rules its ``xrecv`` applies to a
message from that pipe (REQ: the peer asked, the delimiter, ``req_correlate``'s id; REP: the
envelope kept for the reply, the pipe to reply to), and drops what they refuse, as it would
after reading it from the pipe. Frames keep their metadata (CURVE, PLAIN: the decoder labels
them, or the engine does before the hand-off, as for a batch).

*Heartbeats, TTL, monitor events.* The read is the engine's ordinary read: it counts as
traffic for the heartbeat timers (``_reads``) before it is decoded. A PING, with or without a
TTL, is a command: that read takes the ordinary path, the TTL timer is armed under the lease
and the lease's one wake-up shows it to the sleeping loop (:mod:`zreactor.reactor.lease`).
No monitor event is per message.

*EOF, errors, close.* EOF or an error on the read ends the engine in ``read_once``, as on the
loop; nothing is handed over, the session hears ``engine_closed``, and the socket learns of
it as of any lost connection. A malformed frame is a protocol error in the decoder, before any
hand-off.

*A second connection.* One arriving during the wait is a ``BIND`` command in the socket's
mailbox, run before its next call; the message read directly came from the connection that
was waited on, which is where the pattern would have found it. A socket with several
connections waits on them with :func:`~zreactor.sockets.caller_wait.give_back` and takes
the pipe.

*CURVE.* Boxes are opened by the one decoder (``_traffic_batch`` → ``_unbox``); a read of one
whole box is one message like any other.

Counting: :attr:`CallerShortcut.direct_reads <zreactor.zmtp.shortcut.CallerShortcut.direct_reads>`
counts the messages handed over this way, :attr:`CallerShortcut.express_reads
<zreactor.zmtp.shortcut.CallerShortcut.express_reads>` those the express read parsed where it
read them.

This module is the rules and their argument; the code is the engine's
(``ZmtpEngine._caller_read_direct`` and ``_caller_read_rest``, its decoding's ``_deliver``) and the shortcut's (``CallerShortcut.take_back``,
``CallerShortcut.read_express``).

Socket's thread, under the engine's loop lease (the shortcut takes it).
"""

__all__: list[str] = []
