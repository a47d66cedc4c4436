"""What an ``accept()`` errno means, written down as data.

Theory of operation
-------------------
When ``accept()`` fails, the listener has to decide between three very different answers,
and the errno is all it has to go on:

* the *connection* was bad (it died in the backlog, a firewall refused it): skip it, count
  it, accept the next one;
* the *process or machine* is out of something (descriptors, socket buffers, memory): the
  connection is still in the backlog and will be there on the next try, so trying again at
  once would spin; stop polling and wait for capacity;
* the *listening socket itself* is unusable: nothing will ever succeed; stop for good and
  say so.

Each errno is routed to one of these by :func:`classify`, from the three sets below. An
errno that is in none of them is :attr:`ErrnoClass.UNKNOWN`; the listener treats it like a
fatal one (it goes ``FAILED`` and reports the errno) rather than guess. Guessing "per
connection" would risk exactly the spin this package exists to prevent, because an error
that does not consume a backlog entry leaves the listening socket readable for ever.

Where these lists come from
---------------------------
We read what others do before choosing (all are worth reading in full):

* **trio** (``_highlevel_socket.py``, the "Accept error handling" essay above
  ``SocketListener``) surveys the man pages and the other loops, ignores a long list of
  per-connection errnos, and raises everything else, including the capacity errors, which
  ``serve_listeners`` then answers by sleeping 100 ms. Our :data:`PER_CONNECTION` is trio's
  list.
* **Linux accept(2)** passes errors that are already pending on the new connection up
  through ``accept()`` itself, and says to treat ``ENETDOWN, EPROTO, ENOPROTOOPT,
  EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH`` "like EAGAIN by retrying". It
  adds ``EPERM`` (a firewall rule refused the connection).
* **Twisted** (``twisted/internet/tcp.py``, ``_accept``) ignores ``EPERM``, stops the batch
  on ``EMFILE, ENOBUFS, ENFILE, ENOMEM, ECONNABORTED``, and uses a reserved descriptor on
  ``EMFILE`` only. Its comment notes that ``ECONNABORTED`` is a BSD-ism.
* **libuv** (``src/unix/stream.c``, ``uv__server_io``) ignores ``ECONNABORTED`` and runs its
  reserve-fd trick (``uv__emfile_trick``) on ``EMFILE`` and ``ENFILE`` alike.
* **asyncio** (``selector_events.py``, ``_accept_connection``) ignores ``EWOULDBLOCK, EINTR,
  ECONNABORTED`` and pauses the listener for a second on ``EMFILE, ENFILE, ENOBUFS,
  ENOMEM``.

``EOPNOTSUPP`` needs a word, since it is often listed as fatal. Its POSIX meaning, "this
socket type cannot accept", is a fatal misuse; but on Linux it is also one of the pending
network errors of a single connection (see above), and trio ignores it for that reason. The
:class:`~zreactor.reactor.listener.Listener` checks that its socket is a listening
``SOCK_STREAM`` socket before it ever calls ``accept()``, which rules the first meaning out;
what remains is the per-connection one, so ``EOPNOTSUPP`` is listed there. A listener that
went ``FAILED`` because one client's route flapped would be a real bug.

``EAGAIN`` / ``EWOULDBLOCK`` are not errors here: they mean "the backlog is empty" and end
an accept batch normally.
"""

from __future__ import annotations

import enum
import errno as _errno

__all__ = ["CAPACITY", "FATAL", "PER_CONNECTION", "ErrnoClass", "classify", "errno_name"]


def _codes(*names: str) -> frozenset[int]:
    """The errno values for ``names`` that this platform defines (not all define all)."""
    return frozenset(getattr(_errno, name) for name in names if hasattr(_errno, name))


#: The connection at the head of the backlog was bad; it is gone, the next one may be fine.
#: Skip it, count it, keep accepting. (trio's list; Linux accept(2) "Error handling".)
PER_CONNECTION: frozenset[int] = _codes(
    "ECONNABORTED",  # BSDs: the peer reset before we accepted (POSIX, Twisted, libuv, asyncio)
    "EPROTO",  # protocol error on the new connection (POSIX; Linux pending error)
    "EPERM",  # Linux: a firewall rule refused the connection (Twisted, trio)
    "EINTR",  # a signal interrupted the call; PEP 475 retries, scripts may still say it
    # Linux passes errors pending on the new socket through accept(); retry (accept(2)).
    "ENETDOWN",
    "ENOPROTOOPT",
    "EHOSTDOWN",
    "ENONET",
    "EHOSTUNREACH",
    "EOPNOTSUPP",  # see the module docstring: the fatal meaning is ruled out at bind time
    "ENETUNREACH",
    "ENOSR",
    "ESOCKTNOSUPPORT",
    "EPROTONOSUPPORT",
    "ETIMEDOUT",
    "ECONNRESET",
)

#: The process or the machine is out of something. The connection stays in the backlog,
#: so the listener must stop polling (or it spins) and wait for capacity: SUSPENDED.
#: (trio, asyncio and Twisted agree on exactly these four.)
CAPACITY: frozenset[int] = _codes(
    "EMFILE",  # this process reached RLIMIT_NOFILE
    "ENFILE",  # the whole system is out of file table entries (see docs/LISTENER.md)
    "ENOBUFS",  # socket buffer memory; *BSD also reports its socket limits this way
    "ENOMEM",  # kernel memory
)

#: The listening socket cannot accept at all; retrying cannot help: FAILED.
#: (trio's "something is wrong with our call"; EFAULT cannot happen from Python.)
FATAL: frozenset[int] = _codes(
    "EBADF",  # the descriptor is not open (closed behind our back)
    "ENOTSOCK",  # the descriptor is not a socket
    "EINVAL",  # the socket is not listening
    "EFAULT",
)


class ErrnoClass(enum.Enum):
    """Which of the sets above an errno belongs to."""

    PER_CONNECTION = "per-connection"
    CAPACITY = "capacity"
    FATAL = "fatal"
    #: In none of the sets: the listener treats it as fatal (see the module docstring).
    UNKNOWN = "unknown"


def classify(code: int | None) -> ErrnoClass:
    """Return the :class:`ErrnoClass` of an ``accept()`` errno (``None`` is UNKNOWN)."""
    if code in PER_CONNECTION:
        return ErrnoClass.PER_CONNECTION
    if code in CAPACITY:
        return ErrnoClass.CAPACITY
    if code in FATAL:
        return ErrnoClass.FATAL
    return ErrnoClass.UNKNOWN


def errno_name(code: int | None) -> str:
    """``"EMFILE"`` for ``errno.EMFILE``; ``"0"`` for none and the number if unnamed."""
    if not code:
        return "0"
    return _errno.errorcode.get(code, str(code))
