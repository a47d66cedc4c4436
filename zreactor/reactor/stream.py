"""StreamEngine: one connected stream socket (TCP or Unix), buffered and flow-controlled.

Theory of operation
-------------------
A :class:`StreamEngine` owns one connected, non-blocking socket. It reads whatever is there
when the socket is readable and hands it to ``data_received`` (or, with a codec, decodes it
and hands each message to ``message_received``). It writes by trying ``send()`` at once and
queueing what the kernel did not take; the queue drains when the socket becomes writable.

*Backpressure.* The write queue has a high and a low watermark. Above the high mark the engine
stops reading, so a peer that sends without reading cannot make us buffer without bound; below
the low mark it reads again. This is the only flow control a request/response protocol needs:
the peer's own sends block once the kernel buffers fill. Crossing the marks calls the
``pause_writing()`` / ``resume_writing()`` hooks, whose defaults do exactly that; a subclass
with its own source of output may throttle that source instead.

*Two half-streams.* Reading and writing end separately, each with its own small machine
(:data:`READ_TRANSITIONS` over :class:`ReadState`, :data:`WRITE_TRANSITIONS` over
:class:`WriteState`; entering a read state sets the poller's read interest to match):

* the peer's EOF moves reading to ``EOF`` and calls ``eof_received()``; if that returns a
  true value the engine keeps writing (half-close), otherwise it closes after flushing;
* ``shutdown_write()`` flushes the queue, then sends our FIN (``SHUT_WR``) and keeps reading.

*Closing.* ``close()`` flushes queued output first (for at most ``close_linger`` seconds),
then releases the socket; ``abort()`` drops it at once. A linger that runs out with output
still queued *resets* the connection (``SO_LINGER {1, 0}``) and passes a ``TimeoutError`` to
``closed()``: the peer must not mistake a truncated stream for a whole one. An owner's ``TERM`` (pool
``term(linger)``) flushes for at most ``linger`` seconds, and caps a flush that ``close()``
had already started. Connection errors (reset, broken pipe) close the engine with the error
as ``reason``.

*The write queue holds parts, not a copy.* What the kernel did not take stays queued as the
objects it was written with (``bytes``, or a ``memoryview`` of the rest of one that went
out in part), and a flush hands the kernel the queued parts with one gathered ``sendmsg()``.
A short write then costs no copy of what is left: a Unix socket's send buffer (a few hundred
KiB) takes about half of each 256 KiB batch of large messages, so copying the rest to a
contiguous queue was most of what sending a 64 KiB message over ipc cost. Mutable buffers
(``bytearray``, a ``memoryview`` of one) are copied when queued: the caller may reuse them
as soon as the write returns.

*One read path, one write path.* Every read goes through :meth:`StreamEngine.read_once`
(one ``recv()``, whose chunk goes to :meth:`StreamEngine.chunk_received` and whose error
to :meth:`StreamEngine.read_failed`; a read into a buffer to ``buffer_updated``, EOF
included) and every write through
:meth:`StreamEngine.send_now` (try the kernel, queue the rest). ``readable()`` and
``write()`` are thin wrappers over these public hooks; a subclass's fast path (the ZMTP engine's caller shortcut,
:mod:`zreactor.zmtp.shortcut`) uses the same two hooks, plus :meth:`StreamEngine.watch_reads`
to stop and restart the loop polling the socket while another thread reads it. A fast path
that makes the ``recv()`` itself (the ZMTP engine's *express read*, which parses a lone
request or reply in place) hands every outcome it does not keep to the rest of the same
path: the chunk to :meth:`StreamEngine.chunk_received` (EOF included), an error to
:meth:`StreamEngine.read_failed`; a chunk it keeps it counts in ``bytes_received`` itself.

*Reading into a buffer.* An engine whose codec keeps its own read buffer overrides
:meth:`StreamEngine.get_buffer` to return a writable ``memoryview`` of it; the read is then
``recv_into()`` that view and :meth:`StreamEngine.buffer_updated` gets the byte count, with no
``bytes`` allocated per read and nothing copied before the codec sees it. This is asyncio's
``BufferedProtocol`` contract (``get_buffer``/``buffer_updated``) and libzmq's decoder
``get_buffer``/``decode`` pair; the ZMTP engine uses it in traffic
(:mod:`zreactor.reactor.readbuffer` explains the buffer, :mod:`zreactor.zmtp.frames` the
decoding). ``get_buffer()`` returning ``None`` means an ordinary ``recv()`` for this read.
An engine that knows its next read is a small chunk (a request, a reply) says so in
:attr:`StreamEngine.asks_buffer` (False), and the read does not ask: one call fewer per read
where the answer would be ``None`` anyway. An engine that does not override ``get_buffer``
is never asked.

*Threads.* The engine's I/O thread runs it, or a thread holding that loop's
:class:`~zreactor.reactor.lease.LoopLease` (which stands in for the loop: the hooks cannot
tell the difference). From any other thread, use :meth:`StreamEngine.write_threadsafe` or
``call_threadsafe``.
"""

from __future__ import annotations

import enum
import socket
from collections import deque
from itertools import islice
from typing import Any, Sequence

from ..errors import ProtocolError
from .codec import Codec
from .engine import ENGINE_TRANSITIONS, Engine, EngineEvent, EngineState
from .fsm import Machine
from .poller import _FdHandle
from .syscalls import set_abortive

#: most buffers one gathered ``sendmsg()`` takes (Linux and the BSDs accept 1024)
IOV_MAX = 1024

__all__ = [
    "IOV_MAX", "READ_TRANSITIONS", "WRITE_TRANSITIONS", "ReadEvent", "ReadState", "StreamEngine", "WriteEvent",
    "WriteState",
]

#: ``recv()``/``send()`` errors that mean the connection is gone. "Try again" errors
#: (``BlockingIOError``, ``InterruptedError``) are caught before this, everywhere it is used;
#: anything else a connected socket reports (ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH,
#: ENOTCONN, ...) ends that one connection, never the I/O thread.
_CONNECTION_LOST = (OSError,)


class ReadState(enum.Enum):
    """The receiving half of a stream."""

    OPEN = "open"  # reading whenever the socket is readable
    PAUSED = "paused"  # write queue above the high watermark: not reading
    EOF = "eof"  # the peer sent FIN: nothing more will come


class WriteState(enum.Enum):
    """The sending half of a stream."""

    OPEN = "open"
    SHUTTING = "shutting"  # shutdown_write() called: FIN goes out once the queue is empty
    SHUT = "shut"  # FIN sent


class ReadEvent(enum.Enum):
    """What moves the receiving half."""

    #: stop reading: the write queue rose above the high mark, a close began flushing, or
    #: (ZMTP) the pipe to the socket is full
    PAUSE = "pause"
    RESUME = "resume"
    #: ``recv()`` returned no bytes: the peer's FIN
    EOF = "peer's FIN"


class WriteEvent(enum.Enum):
    """What moves the sending half."""

    SHUTDOWN = "shutdown_write()"
    #: the queue is empty and our FIN went out
    FIN = "queue flushed: FIN"


def _poll_in(engine: StreamEngine) -> None:
    if engine._handle is not None and engine.state is not EngineState.CLOSED:
        engine.set_pollin(engine._handle)


def _no_poll_in(engine: StreamEngine) -> None:
    if engine._handle is not None and engine.state is not EngineState.CLOSED:
        engine.reset_pollin(engine._handle)


#: The receiving half: entering a state sets the poller's read interest to match.
READ_TRANSITIONS: Machine[ReadState, ReadEvent] = Machine("stream read", ReadState.OPEN, {
    (ReadState.OPEN, ReadEvent.PAUSE): ReadState.PAUSED,
    (ReadState.PAUSED, ReadEvent.RESUME): ReadState.OPEN,
    (ReadState.OPEN, ReadEvent.EOF): ReadState.EOF,  # a paused half does not read: no FIN
}, attr="read_state", entry={
    ReadState.OPEN: _poll_in, ReadState.PAUSED: _no_poll_in, ReadState.EOF: _no_poll_in})

#: The sending half: a FIN goes out only once the queue is flushed.
WRITE_TRANSITIONS: Machine[WriteState, WriteEvent] = Machine("stream write", WriteState.OPEN, {
    (WriteState.OPEN, WriteEvent.SHUTDOWN): WriteState.SHUTTING,
    (WriteState.SHUTTING, WriteEvent.FIN): WriteState.SHUT,
}, attr="write_state")


#: the members :meth:`StreamEngine.write` tests per message, as module globals
#: (``reactor/fsm.py``, *Members on the per-message paths*)
_ATTACHED, _WRITE_OPEN = EngineState.ATTACHED, WriteState.OPEN


class StreamEngine(Engine):
    """An engine driving one connected stream socket.

    Call grammar (on the engine's I/O thread, or a thread holding its loop's lease)::

        attached -> (data_received | message_received | get_buffer buffer_updated)*
                 -> [eof_received] -> closed(reason)

    Args:
        sock: a connected stream socket; the engine makes it non-blocking and owns it.
        codec: optional sans-I/O codec (see :mod:`zreactor.reactor.codec`). With a codec,
            ``message_received`` is called instead of ``data_received`` and :meth:`send`
            encodes.
        high_water: stop reading when more than this many bytes wait to be written.
        low_water: resume reading when the queue drains to this many bytes
            (default: a quarter of ``high_water``).
        endpoint: the address for events and logs (default: the peer's address).

    Subclasses override the hooks; the base implementations do nothing, except
    ``eof_received`` which returns ``False`` (close once output is flushed).
    """

    # The attributes the per-message paths read live in slots, here and in the ZMTP engine's
    # classes: an instance dict past 30 keys stops sharing its class's keys (CPython 3.11),
    # and then no call of a method on the engine is specialized. A subclass keeps the dict.
    __slots__ = ("sock", "codec", "high_water", "low_water", "read_state", "write_state",
                 "_wqueue", "write_buffer_size", "_handle", "fd", "read_size",
                 "asks_buffer", "bytes_received", "bytes_sent")

    def __init__(
        self,
        sock: socket.socket,
        *,
        codec: Codec[Any] | None = None,
        high_water: int = 256 * 1024,
        low_water: int | None = None,
        endpoint: str = "",
    ) -> None:
        if low_water is None:
            low_water = high_water // 4
        if not 0 <= low_water <= high_water:
            raise ValueError(f"need 0 <= low_water <= high_water, got {low_water}, {high_water}")
        super().__init__(endpoint or _describe_peer(sock))
        self.sock = sock
        self.codec = codec
        self.high_water = high_water
        self.low_water = low_water
        self.read_state = ReadState.OPEN
        self.write_state = WriteState.OPEN
        #: the write queue: parts not yet taken by the kernel, oldest first (see *The write
        #: queue holds parts*)
        self._wqueue: deque[bytes | memoryview] = deque()
        #: bytes queued but not yet accepted by the kernel: the write queue's total size (a
        #: plain attribute, not a property: the direct write reads it for every message)
        self.write_buffer_size = 0
        self._handle: _FdHandle | None = None
        #: the socket's fd, once registered with the poller (-1 before): what a thread that
        #: polls it for us is given, without a ``fileno()`` call per poll
        self.fd = -1
        #: bytes asked of each ``recv()`` (an instance slot, not a class attribute, which
        #: CPython 3.11 does not specialize: ``read_once`` reads it for every read)
        self.read_size = 65536
        #: the next read asks :meth:`get_buffer` for a buffer; False: it is a ``recv()``
        #: chunk without asking (*Reading into a buffer*). True for an engine that overrides
        #: ``get_buffer``, which may set it between reads (a slot: read once per read)
        self.asks_buffer = type(self).get_buffer is not StreamEngine.get_buffer
        #: byte counters, for statistics.
        self.bytes_received = 0
        self.bytes_sent = 0

    # -- hooks ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Bytes arrived (no codec). ``data`` is never empty."""

    def message_received(self, message: Any) -> None:
        """The codec decoded one message."""

    def get_buffer(self) -> memoryview | None:
        """Hook: a writable buffer for the next read, or ``None`` (the default) to be handed
        a fresh ``bytes`` through ``data_received``. See *Reading into a buffer*."""
        return None

    def buffer_updated(self, nbytes: int) -> None:
        """Hook: the last read put ``nbytes`` (> 0) into the buffer :meth:`get_buffer`
        gave. An engine that gives buffers must override this."""
        raise NotImplementedError(f"{type(self).__name__}.get_buffer() gave a buffer: "
                                  "override buffer_updated() too")

    def eof_received(self) -> bool | None:
        """The peer closed its sending half. Return true to keep writing (half-close)."""
        return False

    def pause_writing(self) -> None:
        """The write queue rose above ``high_water`` (called on every such write).

        The default stops reading until the queue drains (see *Backpressure* above). An
        engine with another source of output to throttle (a ZMTP engine stops pulling from
        its pipe instead, so that two peers that both send much cannot deadlock) overrides
        this and :meth:`resume_writing`. asyncio's protocols have hooks of the same names.
        """
        if self.read_state is ReadState.OPEN:
            READ_TRANSITIONS.fire(self, ReadEvent.PAUSE)

    def resume_writing(self) -> None:
        """The write queue is at or below ``low_water`` (called on every such flush)."""
        if self.read_state is ReadState.PAUSED:
            READ_TRANSITIONS.fire(self, ReadEvent.RESUME)

    # -- public operations ------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for sending; send as much as possible right away.

        Raises:
            RuntimeError: the engine is not attached, or its write half was shut down.
        """
        if self.state is not _ATTACHED or self.write_state is not _WRITE_OPEN:
            raise RuntimeError(f"{self!r}: cannot write ({self.state.value}, {self.write_state.value})")
        if data:
            self.send_now((data,), len(data))

    def send_now(self, parts: Sequence[bytes | bytearray | memoryview], size: int) -> None:
        """Hook (the one write path): send what the kernel takes now, queue the rest behind
        write interest; pause above the high-water mark.

        ``parts`` are written in order as one stream of ``size`` bytes (> 0): one part goes
        out with ``send()``, several with one gathered ``sendmsg()`` (no join, so large
        bodies are not copied on their way to the kernel; more than :data:`IOV_MAX` parts are
        joined first). The engine is attached and its write half open.
        """
        if not self.write_buffer_size:
            try:
                if len(parts) == 1:
                    sent = self.sock.send(parts[0])
                elif len(parts) <= IOV_MAX:
                    sent = self.sock.sendmsg(parts)
                else:
                    parts = (b"".join(parts),)
                    sent = self.sock.send(parts[0])
            except BlockingIOError:
                sent = 0
            except _CONNECTION_LOST as exc:
                self._lost(exc)
                return
            self.bytes_sent += sent
            if sent == size:
                return
            assert self._handle is not None
            self.set_pollout(self._handle)
            self.write_buffer_size = size - sent
            queue = self._wqueue
            for part in parts:  # queue what the kernel did not take
                if sent >= len(part):
                    sent -= len(part)
                    continue
                if not isinstance(part, bytes):
                    part = bytes(part)  # (a mutable buffer: the caller may reuse it)
                queue.append(memoryview(part)[sent:] if sent else part)
                sent = 0
        else:
            self.write_buffer_size += size
            queue = self._wqueue
            for part in parts:
                if part:  # (an empty part would stay at the front: nothing sends it)
                    queue.append(part if isinstance(part, bytes) else bytes(part))
        if self.write_buffer_size > self.high_water:
            self.pause_writing()

    def send(self, message: Any) -> None:
        """Encode ``message`` with the codec and write it."""
        if self.codec is None:
            raise RuntimeError(f"{self!r}: send() needs a codec; use write()")
        self.write(self.codec.encode(message))

    def write_threadsafe(self, data: bytes) -> None:
        """Write ``data`` from any thread (through the mailbox); dropped if the engine ended."""
        self.call_threadsafe(self._write_if_open, bytes(data))

    def _write_if_open(self, data: bytes) -> None:
        if self.state is EngineState.ATTACHED and self.write_state is WriteState.OPEN:
            self.write(data)

    def shutdown_write(self) -> None:
        """Send FIN once the queued output is flushed; keep reading (half-close)."""
        if self.state is not EngineState.ATTACHED or self.write_state is not WriteState.OPEN:
            return
        WRITE_TRANSITIONS.fire(self, WriteEvent.SHUTDOWN)
        if not self.write_buffer_size:
            self._send_fin()

    # -- I/O --------------------------------------------------------------------------------

    def attached(self) -> None:
        """Register the socket for reading; subclasses calling super() may add more."""

    def process_plug(self) -> None:
        """Make the socket non-blocking and start reading before ``attached()`` runs."""
        if self.state is EngineState.NEW:
            if self.pool is not None:
                self.pool.fds.track(self.sock)
            self.sock.setblocking(False)
            self.fd = self.sock.fileno()
            self._handle = self.add_fd(self.fd)
            self.set_pollin(self._handle)
        super().process_plug()

    def readable(self) -> None:
        """The socket is readable: read once (:meth:`read_once`)."""
        self.read_once()

    def read_once(self) -> int:
        """Hook (the one read path): one ``recv()``, handed to ``data_received`` (or decoded
        for ``message_received``); EOF and errors end the stream as they should.

        An engine whose :meth:`get_buffer` gives a buffer is read with ``recv_into()`` into
        it instead, and told with :meth:`buffer_updated` (*Reading into a buffer*, above);
        it is asked only while :attr:`asks_buffer` is true.

        Returns:
            The number of bytes read: 0 if nothing was there, or at EOF or an error.
        """
        buffer = self.get_buffer() if self.asks_buffer else None
        try:
            if buffer is None:
                data = self.sock.recv(self.read_size)
            else:
                nbytes = self.sock.recv_into(buffer)
        except _CONNECTION_LOST as exc:
            return self.read_failed(exc)
        if buffer is None:
            return self.chunk_received(data)
        if not nbytes:
            self._eof()
            return 0
        self.bytes_received += nbytes
        self.buffer_updated(nbytes)
        return nbytes

    def chunk_received(self, data: bytes) -> int:
        """Hook (the rest of the one read path): what :meth:`read_once` does with a
        ``recv()`` chunk once it has it, and what a subclass's read that made that
        ``recv()`` itself calls (*One read path*): ``data`` empty is EOF, else it is counted
        and handed on.

        Returns:
            As :meth:`read_once`: ``len(data)``, or 0 at EOF.
        """
        if not data:
            self._eof()
            return 0
        nbytes = len(data)
        self.bytes_received += nbytes
        if self.codec is None:
            self.data_received(data)
            return nbytes
        return self._decode(data, nbytes)

    def read_failed(self, exc: OSError) -> int:
        """Hook (the rest of the one read path): what :meth:`read_once` does when its
        ``recv()`` raises ``exc``, and what a subclass's read that made that ``recv()``
        itself calls:
        nothing for ``EAGAIN``/``EINTR``, else the stream is lost. Returns 0."""
        if not isinstance(exc, (BlockingIOError, InterruptedError)):
            self._lost(exc)
        return 0

    def _decode(self, data: bytes, nbytes: int) -> int:
        """Decode a counted, non-empty ``recv()`` chunk with the codec; hand each message on."""
        error: ProtocolError | None = None
        try:
            messages = self.codec.feed(data)
        except ProtocolError as exc:
            error, messages = exc, exc.messages  # deliver the good ones, then drop
        for message in messages:
            if self.state is not EngineState.ATTACHED:
                break  # a handler closed us mid-batch
            self.message_received(message)
        if error is not None:
            self._lost(error)
        return nbytes

    def watch_reads(self, on: bool) -> None:
        """Hook: start or stop the loop polling the socket for reads, leaving
        :attr:`read_state` alone (a thread holding a lease reads it meanwhile). Restarting
        is only for an ``OPEN`` read half: a paused or ended one stays unwatched."""
        handle = self._handle
        if handle is None or self.state is EngineState.CLOSED:
            return
        if not on:
            self.reset_pollin(handle)
        elif self.read_state is ReadState.OPEN:
            self.set_pollin(handle)

    def writable(self) -> None:
        """Flush as much of the queue as the kernel takes."""
        queue = self._wqueue
        if queue:
            try:
                if len(queue) == 1:
                    sent = self.sock.send(queue[0])
                else:
                    sent = self.sock.sendmsg(islice(queue, IOV_MAX))
            except (BlockingIOError, InterruptedError):
                return
            except _CONNECTION_LOST as exc:
                self._lost(exc)
                return
            self.bytes_sent += sent
            self.write_buffer_size -= sent
            while sent:  # drop what went out: whole parts, then the front of one
                size = len(queue[0])
                if sent < size:
                    queue[0] = memoryview(queue[0])[sent:]
                    break
                queue.popleft()
                sent -= size
        if self.state is EngineState.ATTACHED and self.write_buffer_size <= self.low_water:
            self.resume_writing()
        if queue:
            return
        assert self._handle is not None
        self.reset_pollout(self._handle)
        if self.write_state is WriteState.SHUTTING:
            self._send_fin()
        if self.state is EngineState.CLOSING:
            self._release()

    def _eof(self) -> None:
        READ_TRANSITIONS.fire(self, ReadEvent.EOF)
        keep_open = self.eof_received()
        if self.state is not EngineState.ATTACHED:
            return
        if not keep_open or self.write_state is WriteState.SHUT:
            self.close()

    def _send_fin(self) -> None:
        WRITE_TRANSITIONS.fire(self, WriteEvent.FIN)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._lost(exc)
            return
        if self.read_state is ReadState.EOF:
            self.close()

    def drop(self, reason: BaseException) -> None:
        """End the connection now, with ``reason`` for ``closed()``; queued output is
        discarded. For subclasses that find the stream unusable (a protocol violation, a
        timeout): what a reset connection does by itself."""
        self._lost(reason)

    def _lost(self, exc: BaseException) -> None:
        """The connection failed: drop it now with ``exc`` as the reason."""
        if self.state is EngineState.CLOSED:
            return
        self._wqueue.clear()
        self.write_buffer_size = 0
        self._close_reason = self._close_reason or exc  # CLOSING keeps close()'s reason
        self._release()

    # -- closing ----------------------------------------------------------------------------

    def _finish(self, linger: float | None) -> None:
        """Flush queued output for at most ``linger`` seconds, then release."""
        if not self.write_buffer_size or self.write_state is WriteState.SHUT:
            self._release()
            return
        if linger == 0:
            self._linger_expired()
            return
        ENGINE_TRANSITIONS.fire(self, EngineEvent.FINISH)
        if self.read_state is ReadState.OPEN:
            READ_TRANSITIONS.fire(self, ReadEvent.PAUSE)
        if linger is not None:
            self.call_later(linger, self._linger_expired)

    def _linger_expired(self) -> None:
        """The linger ran out with output still queued: reset, never a clean FIN.

        A FIN after part of a response would tell the peer "that was all of it": it cannot
        tell a truncated answer from a whole one. ``SO_LINGER {1, 0}`` makes the close send a
        RST, so the peer's next ``recv()`` fails with ``ECONNRESET``; ``closed()`` gets a
        ``TimeoutError`` (unless ``close()`` gave a reason of its own).
        """
        if self.state is EngineState.CLOSED:
            return
        if self.write_buffer_size:
            unsent = self.write_buffer_size
            self._wqueue.clear()
            self.write_buffer_size = 0
            set_abortive(self.sock)
            self._close_reason = self._close_reason or TimeoutError(
                f"{unsent} bytes still queued when the linger ran out; connection reset")
        self._release()

    def release_resources(self) -> None:
        """Close the socket through the pool's fd registry."""
        self._handle = None
        pool = self.pool if self.thread is not None else None
        if pool is not None:
            pool.fds.close(self.sock)
        else:
            self.sock.close()


def _describe_peer(sock: socket.socket) -> str:
    """A human-readable address for the peer of ``sock`` (``""`` if unknown)."""
    try:
        peer = sock.getpeername()
    except OSError:
        return ""
    if sock.family == socket.AF_UNIX:
        return f"ipc://{peer}" if peer else "ipc://"
    if sock.family == socket.AF_INET6:
        return f"tcp://[{peer[0]}]:{peer[1]}"
    return f"tcp://{peer[0]}:{peer[1]}"
