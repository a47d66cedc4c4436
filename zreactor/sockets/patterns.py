"""The three routing helpers every socket type is built from: lb, fq and dist.

Theory of operation
-------------------
libzmq builds its socket types from three small strategies over a list of pipes:

* :class:`LoadBalancer` (``lb_t``): send each message to the next pipe, round-robin, skipping
  pipes that are full. PUSH, DEALER and REQ send this way.
* :class:`FairQueue` (``fq_t``): receive from the pipes in turn, so one chatty peer cannot
  starve the others. PULL, DEALER, ROUTER, SUB, REP and REQ receive this way.
* :class:`Distributor` (``dist_t``): send a copy to every matching pipe; a pipe that is full
  misses the message (PUB's "drop when mute").

Like libzmq's, the lb and fq lists keep the *active* pipes at the front (``pipes[:active]``),
so picking the next one is O(1) and deactivating a pipe is a swap. A pipe goes inactive when a
read or write on it fails, and comes back when the pipe says so (``activated``). Everything
here runs on the socket's thread and deals in whole messages (lists of frames).

*Read-ahead* (a :class:`FairQueue` made with ``read_ahead=n``; PULL uses it). Taking one
message from a pipe is a Python call of its own (``Pipe.read``) on the receive path of every
message, a fifth of what a 100-byte ``recv()`` costs. While exactly one pipe is active, the
fair queue instead takes up to ``n`` messages at once (``Pipe.read_batch``) and hands them out
one by one from its own list. With two or more active pipes it reads one message per pipe in
turn, so fairness between peers is exactly libzmq's. What it has taken counts as read for the
pipe's flow control: at most ``n`` messages beyond the receive high-water mark may be queued,
a bound of the same kind as libzmq's own batching (its pipes grant credit by the low-water
mark, 500 messages at the default HWM). Messages taken ahead stay deliverable when their pipe
terminates, as messages before a pipe's delimiter do; they go with the socket when it closes.
"""

from __future__ import annotations

from typing import Iterable

from .pipe import Pipe

__all__ = ["Distributor", "FairQueue", "LoadBalancer"]

Message = list


class _ActiveList:
    """A list of pipes with the active ones first (shared by lb and fq)."""

    def __init__(self) -> None:
        self.pipes: list[Pipe] = []
        self.active = 0
        self.current = 0

    def attach(self, pipe: Pipe) -> None:
        """Add a pipe and make it active."""
        self.pipes.append(pipe)
        self.activated(pipe)

    def activated(self, pipe: Pipe) -> None:
        """Move ``pipe`` into the active region (it must be attached and inactive)."""
        pipes = self.pipes
        index = pipes.index(pipe)
        if index < self.active:
            return
        pipes[index], pipes[self.active] = pipes[self.active], pipes[index]
        self.active += 1

    def _deactivate_current(self) -> None:
        pipes = self.pipes
        self.active -= 1
        last = self.active
        pipes[self.current], pipes[last] = pipes[last], pipes[self.current]
        if self.current == self.active:
            self.current = 0

    def pipe_terminated(self, pipe: Pipe) -> None:
        """Forget ``pipe``."""
        pipes = self.pipes
        try:
            index = pipes.index(pipe)
        except ValueError:
            return
        if index < self.active:
            self.active -= 1
            pipes[index], pipes[self.active] = pipes[self.active], pipes[index]
            index = self.active
        # now outside the active prefix: fill the hole with the last pipe
        pipes[index] = pipes[-1]
        pipes.pop()
        if self.current >= self.active:
            self.current = 0


class LoadBalancer(_ActiveList):
    """Round-robin sending over the pipes that have room (libzmq's ``lb_t``)."""

    def send(self, msg: Message) -> Pipe | None:
        """Write ``msg`` to the next writable pipe; return it, or ``None`` if all are full."""
        while self.active > 0:
            current = self.current
            pipe = self.pipes[current]
            if pipe.send(msg):
                current += 1
                self.current = current if current < self.active else 0
                return pipe
            self._deactivate_current()
        return None

    def has_out(self) -> bool:
        """True if some pipe can take a message now."""
        while self.active > 0:
            if self.pipes[self.current].check_write():
                return True
            self._deactivate_current()
        return False


class FairQueue(_ActiveList):
    """Round-robin receiving over the pipes that have messages (libzmq's ``fq_t``).

    Args:
        read_ahead: while one pipe is active, take up to this many messages from it at once
            (*Read-ahead* in the module docstring); 0, the default: one at a time.
    """

    def __init__(self, read_ahead: int = 0) -> None:
        super().__init__()
        #: the pipe the last message :meth:`recv` returned came from
        self.last_pipe: Pipe | None = None
        self.read_ahead = read_ahead
        #: messages taken ahead from ``last_pipe``, the next one last (``pop()`` is cheap)
        self._ahead: list[Message] = []

    def recv(self) -> Message | None:
        """Read the next message, taking the pipes in turn; ``None`` if all are empty.

        The pipe it came from is left in :attr:`last_pipe` (libzmq's ``recvpipe`` passes it
        back the same way), which spares the hot path a tuple per message.
        """
        ahead = self._ahead
        if ahead:
            return ahead.pop()
        if self.read_ahead and self.active == 1:
            return self._read_ahead()
        while self.active > 0:
            pipe = self.pipes[self.current]
            msg = pipe.read()
            if msg is not None:
                self.current += 1
                if self.current >= self.active:
                    self.current = 0
                self.last_pipe = pipe
                return msg
            self._deactivate_current()
        return None

    def _read_ahead(self) -> Message | None:
        """Take a batch from the one active pipe; return its first message."""
        pipe = self.pipes[0]
        batch = pipe.read_batch(self.read_ahead)
        if not batch:  # asleep, or its delimiter: as when read() returns None
            self._deactivate_current()
            return None
        self.last_pipe = pipe
        if len(batch) == 1:
            return batch[0]
        batch.reverse()
        msg = batch.pop()
        self._ahead = batch
        return msg

    def has_in(self) -> bool:
        """True if a message is ready: taken ahead, or in some pipe."""
        if self._ahead:
            return True
        while self.active > 0:
            if self.pipes[self.current].check_read():
                return True
            self._deactivate_current()
        return False


class Distributor:
    """Send a copy of each message to many pipes; full pipes miss it (``dist_t``)."""

    def __init__(self) -> None:
        self.pipes: list[Pipe] = []
        self._inactive: set[Pipe] = set()

    def attach(self, pipe: Pipe) -> None:
        """Add a pipe (active)."""
        self.pipes.append(pipe)

    def activated(self, pipe: Pipe) -> None:
        """The pipe has room again."""
        self._inactive.discard(pipe)

    def pipe_terminated(self, pipe: Pipe) -> None:
        """Forget ``pipe``."""
        if pipe in self.pipes:
            self.pipes.remove(pipe)
        self._inactive.discard(pipe)

    def send_to(self, pipes: Iterable[Pipe], msg: Message) -> int:
        """Write ``msg`` to each of ``pipes`` that has room; return how many took it."""
        sent = 0
        inactive = self._inactive
        for pipe in pipes:
            if pipe in inactive:
                continue
            if pipe.write(msg):
                pipe.flush()
                sent += 1
            else:
                inactive.add(pipe)
        return sent

    def send_to_all(self, msg: Message) -> int:
        """Write ``msg`` to every pipe that has room."""
        return self.send_to(self.pipes, msg)

    def has_out(self) -> bool:
        """A distributor can always send (full pipes drop)."""
        return True

    def __len__(self) -> int:
        return len(self.pipes)
