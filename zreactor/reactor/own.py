"""The ownership tree and its acknowledged termination handshake (libzmq's ``own_t``).

Theory of operation
-------------------
Every long-lived object of the reactor (the pool's root, listeners, connecters, engines) is
an :class:`Own`: it lives on exactly one thread, is reached only through that thread's mailbox,
and has exactly one owner. Owners outlive what they own: a listener owns the connections it
accepted, the pool's root owns the listeners.

Shutting down is a conversation, never a flag:

``launch_child(child, thread)``
    sends ``OWN`` to the owner itself and then ``PLUG`` to the child, so the owner has
    registered the child before the child can possibly ask to be terminated.
``terminate()``
    a child that wants to go (its peer hung up) sends ``TERM_REQ`` to its owner; the owner
    forgets it and answers ``TERM``. An owner that is itself terminating ignores the request:
    its own ``TERM`` is already on the way.
``process_term(linger)``
    forwards ``TERM`` to every child, counts the acknowledgements it now waits for, and sets
    ``terminating``. A subclass that needs time to finish (an engine flushing its output for
    up to ``linger`` seconds) registers one more ack of its own and unregisters it when done.
``TERM_ACK``
    when the count reaches zero the object acknowledges to its owner and is destroyed.

The handshake's states are :class:`OwnState`, its moves the rows of :data:`OWN_TRANSITIONS`
(a :class:`~zreactor.reactor.fsm.Machine`): ``TERM`` and ``all acks in`` are its two events,
and entering ``TERMINATED`` is what sends ``TERM_ACK`` and destroys the object.

Two races need care, and libzmq's answer to both is sequence numbers:

* ``OWN`` travels through the owner's mailbox, and a ``TERM`` for the owner may already be
  queued ahead of it. The owner counts the ``OWN`` commands it has sent and processed, and
  never acknowledges its own termination while one is still in flight; when it arrives, the
  late child is terminated like the others.
* A ``TERM`` can overtake a ``PLUG`` (they travel through different mailboxes), so
  ``process_plug`` on an object that has already terminated must do nothing, and an object
  that terminates before being plugged releases what it holds without ever attaching.

Thread rules: every ``process_*`` method runs on the object's own thread. ``launch_child``
and ``terminate`` run on the object's own thread too; the one exception is the I/O thread
pool, which launches children of its root from application threads through the same commands
(under a lock, so the root's sequence counter keeps one writer at a time).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from .fsm import Machine
from .mailbox import Cmd, Command

if TYPE_CHECKING:
    from .mailbox import Mailbox

__all__ = ["OWN_TRANSITIONS", "Own", "OwnEvent", "OwnState"]


class OwnState(enum.Enum):
    """Where an object stands in the termination handshake."""

    ACTIVE = "active"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


class OwnEvent(enum.Enum):
    """What moves an object through the termination handshake."""

    #: ``process_term``: the owner's ``TERM`` arrived (or a root terminated itself).
    TERM = "TERM"
    #: every awaited ``TERM_ACK`` is in and no ``OWN`` is still in flight.
    ACKED = "all acks in"


def _acknowledge(obj: Own) -> None:
    """Entry action of ``TERMINATED``: tell the owner, then let the object go."""
    if obj.owner is not None:
        obj.send_command(obj.owner, Cmd.TERM_ACK)
    obj.process_destroy()


#: The only moves the handshake allows; entering ``TERMINATED`` acknowledges upwards.
OWN_TRANSITIONS: Machine[OwnState, OwnEvent] = Machine(
    "ownership",
    OwnState.ACTIVE,
    {
        (OwnState.ACTIVE, OwnEvent.TERM): OwnState.TERMINATING,
        (OwnState.TERMINATING, OwnEvent.ACKED): OwnState.TERMINATED,
    },
    attr="own_state",
    entry={OwnState.TERMINATED: _acknowledge},
)


class Own:
    """A node of the ownership tree. See the module docstring for the protocol.

    Attributes:
        owner: the object that will terminate this one (``None`` for a root).
        thread: the I/O thread this object lives on (set when launched).
        mailbox: the mailbox of the thread this object lives on (set when launched).
        own_state: the handshake state.
    """

    def __init__(self) -> None:
        self.owner: Any = None
        self.thread: Any = None
        self.mailbox: Mailbox | None = None
        self.own_state = OwnState.ACTIVE
        #: where children's events go (their bus's parent); engines and sockets set one
        self.event_bus: Any = None
        self._owned: set[Own] = set()
        self._term_acks = 0
        self._linger: float | None = None
        # One writer each: the launching thread bumps `sent`, the owner's thread `processed`.
        self._sent_seqnum = 0
        self._processed_seqnum = 0

    # -- sending ---------------------------------------------------------------------------

    @staticmethod
    def send_command(destination: Any, kind: enum.Enum, *args: Any) -> None:
        """Post a command to ``destination``'s thread."""
        destination.mailbox.send(Command(destination, kind, args))

    @property
    def terminating(self) -> bool:
        """True once termination has started."""
        return self.own_state is not OwnState.ACTIVE

    # -- the tree --------------------------------------------------------------------------

    def launch_child(self, child: Own, thread: Any) -> None:
        """Make ``child`` ours and start it on ``thread`` (an I/O thread)."""
        child.owner = self
        child.thread = thread
        child.mailbox = thread.mailbox
        self._sent_seqnum += 1
        self.send_command(self, Cmd.OWN, child)
        self.send_command(child, Cmd.PLUG)

    def process_own(self, child: Own) -> None:
        """A child was launched: track it, or terminate it at once if we are going."""
        self._processed_seqnum += 1
        if self.terminating:
            self._term_acks += 1
            self.send_command(child, Cmd.TERM, self._linger)
            return
        self._owned.add(child)

    def process_plug(self) -> None:
        """The object arrived on its thread. Subclasses attach their fds here."""

    def terminate(self) -> None:
        """Ask to be terminated (from the object's own thread)."""
        if self.terminating:
            return
        if self.owner is None:
            self.process_term(self._linger)
            return
        self.send_command(self.owner, Cmd.TERM_REQ, self)

    def term_child(self, child: Own) -> None:
        """Terminate one child (from the owner's thread)."""
        self.process_term_req(child)

    def process_term_req(self, child: Own) -> None:
        """A child asked to go: forget it and send it ``TERM``."""
        if self.terminating or child not in self._owned:
            return
        self._owned.discard(child)
        self._term_acks += 1
        self.send_command(child, Cmd.TERM, self._linger)

    def process_term(self, linger: float | None) -> None:
        """Terminate: forward ``TERM`` to every child and wait for their acks.

        Subclasses release their own resources first, then call ``super().process_term``.
        """
        self._linger = linger
        for child in self._owned:
            self.send_command(child, Cmd.TERM, linger)
        self._term_acks += len(self._owned)
        self._owned.clear()
        OWN_TRANSITIONS.fire(self, OwnEvent.TERM)
        self._check_term_acks()

    def register_term_acks(self, count: int) -> None:
        """Wait for ``count`` more acknowledgements before acknowledging upwards."""
        self._term_acks += count

    def unregister_term_ack(self) -> None:
        """One awaited acknowledgement arrived (or the object finished its own work)."""
        self._term_acks -= 1
        self._check_term_acks()

    def process_term_ack(self) -> None:
        """A child finished terminating."""
        self.unregister_term_ack()

    def _check_term_acks(self) -> None:
        if (
            self.own_state is OwnState.TERMINATING
            and self._term_acks == 0
            and self._processed_seqnum == self._sent_seqnum
        ):
            OWN_TRANSITIONS.fire(self, OwnEvent.ACKED)  # entry: TERM_ACK up, then destroy

    def process_destroy(self) -> None:
        """The handshake is complete; nothing will reach this object again."""

    @property
    def children(self) -> frozenset[Own]:
        """The objects this one currently owns (owner's thread only)."""
        return frozenset(self._owned)
