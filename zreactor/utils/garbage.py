"""pyzmq's ``zmq.utils.garbage``: keeps alive the objects whose memory a zero-copy send lends.

Theory of operation
-------------------
In pyzmq a zero-copy :class:`~zreactor.Frame` lends the memory of a Python object to
libzmq, which may hold it after ``send`` returns. The collector keeps the object alive
meanwhile: ``store(obj, event)`` files it in :attr:`GarbageCollector.refs` under a key, and
when libzmq frees the message its free callback (on a libzmq thread, where it cannot touch
Python objects) sends the key, packed as a native unsigned integer, to the collector's inproc
PULL socket. The collector's thread receives it, drops the reference and sets the tracker's
event. A ``b"DIE"`` message ends the thread.

zreactor never lends a caller's memory: a frame is copied into memory zreactor owns, or kept
as a ``bytes`` object that Python's own reference count keeps alive (see
:mod:`zreactor.sockets.frame`). So zreactor itself stores nothing here and ``gc.refs`` stays
empty, which is what pyzmq's own tests check between tests. The collector still works as
pyzmq's does, over zreactor sockets, for code that uses it directly: :meth:`store` starts the
thread on first use, and sending the key to :attr:`url` (or :meth:`release`, from any thread)
gives the object back.

Threads: :attr:`refs` is written by the storing threads and by the collector's thread (one
dict operation each, atomic under the GIL); the thread's PULL socket is its own; the shared
PUSH socket of :meth:`release` is used under a lock (sockets are not thread-safe).
"""

from __future__ import annotations

import atexit
import os
import struct
import threading
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..context import Context
    from ..sockets.socket import Socket

__all__ = ["GarbageCollector", "GarbageCollectorThread", "gc", "gcref"]


class gcref(NamedTuple):
    """One lent object and the event to set when it is given back (pyzmq's name)."""

    obj: object
    event: threading.Event | None


class GarbageCollectorThread(threading.Thread):
    """The collector's thread: serves the PULL socket at the collector's :attr:`~GarbageCollector.url`.

    Attributes:
        gc: the collector it serves. pid: the process it was started in (a forked child
            does not inherit it). ready: set once the socket is bound (or binding failed).
    """

    def __init__(self, gc: GarbageCollector) -> None:
        super().__init__(name="zreactor-gc", daemon=True)
        self.gc = gc
        self.pid = os.getpid()
        self.ready = threading.Event()

    def run(self) -> None:
        """Receive keys and give their objects back until ``b"DIE"``."""
        from ..constants import SocketType

        try:
            pull = self.gc.context.socket(SocketType.PULL)
            pull.linger = 0
            pull.bind(self.gc.url)
        finally:
            self.ready.set()
        try:
            while os.getpid() == self.pid:
                msg = pull.recv()
                if msg == b"DIE":
                    break
                (key,) = struct.unpack("L" if len(msg) == 4 else "Q", msg)
                ref = self.gc.refs.pop(key, None)
                if ref is not None and ref.event is not None:
                    ref.event.set()
        finally:
            pull.close()


class GarbageCollector:
    """Holds the objects lent to zero-copy sends until their keys come back (pyzmq's class).

    Args:
        context: the context of the collector's sockets (default: one of its own, made on
            first use and terminated by :meth:`stop`).

    Attributes:
        refs: ``{key: gcref}``, the objects lent now.
        url: where the collector's thread listens for keys (inproc).
    """

    url = "inproc://pyzmq.gc.01"

    def __init__(self, context: Context | None = None) -> None:
        self.refs: dict[int, gcref] = {}
        self.pid: int | None = None
        self.thread: GarbageCollectorThread | None = None
        self._context = context
        self._own_context = context is None
        self._lock = threading.Lock()
        self._push: Socket | None = None
        self._stay_down = False
        atexit.register(self._atexit)

    @property
    def context(self) -> Context:
        """The context of the collector's sockets, made on first use if none was given."""
        if self._context is None:
            from ..context import Context

            self._context = Context()
            self._own_context = True
        return self._context

    @context.setter
    def context(self, ctx: Context | None) -> None:
        if self.is_alive():
            self.stop()
        self._context = ctx
        self._own_context = ctx is None

    def is_alive(self) -> bool:
        """True while the collector's thread runs in this process (not after a fork)."""
        return (self.thread is not None and self.pid == os.getpid()
                and self.thread.is_alive())

    def start(self) -> None:
        """Start the collector's thread (:meth:`store` does it on first use)."""
        if self.thread is not None and self.pid != os.getpid():
            self._forget()  # forked: the parent's thread and context are not ours
        self.pid = os.getpid()
        self.refs = {}
        self.thread = GarbageCollectorThread(self)
        self.thread.start()
        self.thread.ready.wait()

    def store(self, obj: object, event: threading.Event | None = None) -> int:
        """Keep ``obj`` alive until its key comes back; return the key.

        ``event`` is set when it does. Returns 0 (and keeps nothing) during interpreter
        shutdown, as pyzmq does.
        """
        if not self.is_alive():
            if self._stay_down:
                return 0
            with self._lock:
                if not self.is_alive():
                    self.start()
        ref = gcref(obj, event)
        key = id(ref)
        self.refs[key] = ref
        return key

    def release(self, key: int) -> None:
        """Give back the object stored under ``key``, as a libzmq free callback does: by
        sending the key to :attr:`url`. Any thread; the collector's thread does the rest."""
        from ..constants import SocketType

        with self._lock:
            if self._push is None:
                self._push = self.context.socket(SocketType.PUSH)
                self._push.connect(self.url)
            self._push.send(struct.pack("Q", key))

    def stop(self) -> None:
        """Stop the collector's thread and forget what it held (idempotent)."""
        if not self.is_alive():
            return
        from ..constants import SocketType

        with self._lock:
            push, self._push = self._push, None
            if push is None:
                push = self.context.socket(SocketType.PUSH)
                push.connect(self.url)
            push.linger = -1  # the DIE message must arrive
            push.send(b"DIE")
            push.close()
        assert self.thread is not None
        self.thread.join()
        if self._own_context:
            self.context.term()
        self._forget()

    def _forget(self) -> None:
        self._push = None
        self.thread = None
        self.refs.clear()
        if self._own_context:
            self._context = None

    def _atexit(self) -> None:
        # after this no store() starts the thread again (other atexit handlers may run later)
        self._stay_down = True
        self.stop()


#: the process's collector (pyzmq's ``zmq.utils.garbage.gc``)
gc = GarbageCollector()
