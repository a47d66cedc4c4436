"""The listener's accept-error state machine, driven through its seams.

Everything here runs on the test thread: a :class:`ManualContext` steps the I/O loop, a
:class:`FakeClock` decides when timers fire, and :class:`ScriptedSyscalls` plays the kernel
(its ``free_fds`` model makes EMFILE keep a connection queued and lets the reserve-fd dance
free exactly one slot). Readiness of the listening socket is simulated by calling the
poller's entry point ``in_event()``, except where a test needs the real poller path.

Coverage is checked, not hoped for: the row test is parametrised over ``TRANSITIONS`` and
looks each row up in ``ROWS``, and the errno tests over the errno sets themselves, so a row
or an errno added without a scenario fails here.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import pathlib
import re
import select
import socket
import threading
from typing import Any, Callable

import pytest

import zreactor
from zreactor.reactor.accept_errors import CAPACITY, FATAL, PER_CONNECTION, ErrnoClass, classify
from zreactor.reactor.accept_states import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    DEFAULT_ACCEPT_GRACE,
    LOG_QUIET_PERIOD,
    TRANSITIONS,
    ListenerState,
    Trigger,
    default_fd_budget,
    render_mermaid,
)
from zreactor.reactor.events import EventKind
from zreactor.reactor.listener import Listener
from zreactor.reactor.stream import StreamEngine
from zreactor.reactor.syscalls import Syscalls
from zreactor.testing import ManualContext, ScriptedSyscalls, os_error

pytestmark = pytest.mark.timeout(15)

A, S, R, F, C = (
    ListenerState.ACTIVE,
    ListenerState.SUSPENDED,
    ListenerState.REOPENING,
    ListenerState.FAILED,
    ListenerState.CLOSED,
)
#: Events that announce a move (as opposed to ACCEPTED, SHED, ... which report actions).
STATE_EVENTS = (
    EventKind.SUSPENDED | EventKind.RESUMED | EventKind.FAILED | EventKind.LISTENING
    | EventKind.CLOSED
)
GRACE = DEFAULT_ACCEPT_GRACE
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "LISTENER.md"


class Rig:
    """A listener on a ManualContext with scripted syscalls, and what it emitted."""

    def __init__(self, scripted: dict[str, Any] | None = None, **options: Any) -> None:
        options.setdefault("max_connections", 1000)
        self.sc = ScriptedSyscalls(**(scripted or {}))
        self.ctx = ManualContext()
        self.events: list[zreactor.ReactorEvent] = []
        self.peers: list[socket.socket] = []
        self.listener: Listener = self.ctx.listen(
            "tcp://127.0.0.1:0", StreamEngine, syscalls=self.sc, **options
        )
        self.listener.events.subscribe(self.events.append)
        self.ctx.step(3)
        assert self.listener.listener_state is A
        self._mark = 0

    # -- driving --------------------------------------------------------------------------

    @property
    def state(self) -> ListenerState:
        return self.listener.listener_state

    def push(self, count: int = 1, *, tcp: bool = False) -> list[socket.socket]:
        """Queue ``count`` connections in the scripted backlog; keep their peers."""
        peers = self.sc.push_connections(count, tcp=tcp)
        self.peers += peers
        return peers

    def fire(self) -> None:
        """The listening socket became readable (what the poller would call), then step."""
        self.listener.in_event()
        self.ctx.step(3)

    def step(self, rounds: int = 3) -> None:
        self.ctx.step(rounds)

    def advance(self, seconds: float) -> None:
        self.ctx.advance(seconds)

    def close(self) -> None:
        self.listener.close_threadsafe()
        self.ctx.step(3)

    # -- observing ------------------------------------------------------------------------

    def mark(self) -> None:
        """Remember where the event and history logs stand now."""
        self._mark = len(self.events)
        self._history_mark = len(self.listener.history())

    def new_events(self, mask: EventKind | None = None) -> list[zreactor.ReactorEvent]:
        return [e for e in self.events[self._mark:] if mask is None or e.kind & mask]

    def new_moves(self) -> list[tuple[ListenerState, Trigger, ListenerState]]:
        # history() keeps the last 64 moves: enough for every scenario here
        moves = self.listener.history()[self._history_mark:]
        return [(m.source, m.trigger, m.target) for m in moves]

    def kinds(self, mask: EventKind | None = None) -> list[EventKind]:
        return [e.kind for e in self.new_events(mask)]

    def teardown(self) -> None:
        for peer in self.peers:
            peer.close()
        self.ctx.term()
        self.sc.close()


@pytest.fixture
def make_rig():
    rigs: list[Rig] = []

    def make(scripted: dict[str, Any] | None = None, **options: Any) -> Rig:
        rig = Rig(scripted, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.teardown()


# -- bringing a listener into each state ---------------------------------------------------


def to_suspended_capacity(rig: Rig) -> None:
    """EMFILE with one connection waiting (it stays queued: the model has no free fd)."""
    rig.sc.free_fds = 0
    rig.push(1)
    rig.fire()
    assert rig.state is S
    assert rig.listener.stats().last_errno == "EMFILE"


def to_suspended_budget(rig: Rig) -> None:
    """Budget 2 (the listening socket and one connection); a second connection waits."""
    assert rig.listener.max_connections == 2
    rig.push(2)
    rig.fire()
    assert rig.state is S and rig.listener.accepted == 1


def to_reopening(rig: Rig) -> None:
    """Suspended past the grace period; the reserve cannot be taken back: stuck REOPENING."""
    to_suspended_capacity(rig)
    rig.sc.reserve_failures = 1
    rig.advance(GRACE)
    assert rig.state is R
    assert rig.listener.stats().shed == 1


def to_reopening_budget(rig: Rig) -> None:
    to_suspended_budget(rig)
    rig.sc.reserve_failures = 1
    rig.advance(GRACE)
    assert rig.state is R


def to_failed(rig: Rig) -> None:
    rig.sc.push(os_error(errno.EBADF))
    rig.fire()
    assert rig.state is F


# -- one scenario per row: (options, setup, fire) -------------------------------------------

Scenario = tuple[dict[str, Any], Callable[[Rig], None], Callable[[Rig], None]]


def _nothing(rig: Rig) -> None:
    pass


def _free(n: int) -> Callable[[Rig], None]:
    def fire(rig: Rig) -> None:
        rig.sc.free_fds = n
        rig.advance(BACKOFF_MIN)

    return fire


def _push_then(fire_: Callable[[Rig], None], *items: Any) -> Callable[[Rig], None]:
    def fire(rig: Rig) -> None:
        for item in items:
            rig.sc.accepts.appendleft(item)
        fire_(rig)

    return fire


def _restart(rig: Rig) -> None:
    rig.listener.restart()
    rig.step()


def _restart_fails(rig: Rig) -> None:
    rig.sc.bind_failures = 1
    _restart(rig)


def _reserve_fails_again(rig: Rig) -> None:
    rig.sc.reserve_failures = 1
    rig.advance(BACKOFF_MIN)


def _accept_one(rig: Rig) -> None:
    rig.push(1)
    rig.fire()


BUDGET_2 = {"max_connections": 2}

ROWS: dict[tuple[ListenerState, Trigger], Scenario] = {
    (A, Trigger.ROOM): ({}, _nothing, _accept_one),
    (A, Trigger.CAPACITY): ({}, _nothing, to_suspended_capacity),
    (A, Trigger.BUDGET): (BUDGET_2, _nothing, to_suspended_budget),
    (A, Trigger.FATAL): ({}, _nothing, to_failed),
    (A, Trigger.CLOSE): ({}, _nothing, Rig.close),
    (S, Trigger.ROOM): ({}, to_suspended_capacity, _free(5)),
    (S, Trigger.CAPACITY): ({}, to_suspended_capacity, lambda rig: rig.advance(BACKOFF_MIN)),
    (S, Trigger.BUDGET): (BUDGET_2, to_suspended_budget, lambda rig: rig.advance(BACKOFF_MIN)),
    (S, Trigger.GRACE_EXPIRED): ({}, to_suspended_capacity, lambda rig: to_reopening_fire(rig)),
    (S, Trigger.FATAL): ({}, to_suspended_capacity, _push_then(_free(1), os_error(errno.EBADF))),
    (S, Trigger.CLOSE): ({}, to_suspended_capacity, Rig.close),
    (R, Trigger.ROOM): ({}, to_reopening, _free(5)),
    (R, Trigger.CAPACITY): ({}, to_reopening, lambda rig: rig.advance(BACKOFF_MIN)),
    (R, Trigger.BUDGET): (BUDGET_2, to_reopening_budget, lambda rig: rig.advance(BACKOFF_MIN)),
    (R, Trigger.RETRY_LATER): ({}, to_reopening, _reserve_fails_again),
    (R, Trigger.GAVE_UP): ({"recovery_tries": 2}, to_reopening, _reserve_fails_again),
    (R, Trigger.FATAL): ({}, to_reopening, _push_then(_free(5), os_error(errno.EBADF))),
    (R, Trigger.CLOSE): ({}, to_reopening, Rig.close),
    (F, Trigger.RESTART): ({}, to_failed, _restart),
    (F, Trigger.RESTART_FAILED): ({}, to_failed, _restart_fails),
    (F, Trigger.CLOSE): ({}, to_failed, Rig.close),
}


def to_reopening_fire(rig: Rig) -> None:
    rig.sc.reserve_failures = 1  # so the machine stays in REOPENING where we can see it
    rig.advance(GRACE)


def _row_id(row: tuple[ListenerState, Trigger]) -> str:
    return f"{row[0].name}-{row[1].name}"


def test_every_row_has_a_scenario_and_every_scenario_a_row():
    assert set(ROWS) == set(TRANSITIONS)


@pytest.mark.parametrize("row", list(TRANSITIONS), ids=_row_id)
def test_transition_row(make_rig, row):
    """Each row: set up its source state, fire its trigger, see the move and its event."""
    options, setup, fire = ROWS[row]
    rig = make_rig(**options)
    setup(rig)
    source, trigger = row
    assert rig.state is source
    rig.mark()
    fire(rig)
    move = TRANSITIONS[row]
    assert (source, trigger, move.target) in rig.new_moves()
    assert rig.state is move.target
    expected = move.data  # the event that announces the move
    if row == (S, Trigger.GRACE_EXPIRED):
        expected = EventKind.SHED  # the reset policy announces REOPENING once it has shed
        assert rig.kinds(EventKind.SHED) == [EventKind.SHED]
    if expected is None:
        # a move the user cannot see: no state event at all
        assert rig.kinds(STATE_EVENTS) == []
    elif expected is EventKind.SHED:
        assert rig.kinds(STATE_EVENTS) == []
    else:
        assert rig.kinds(STATE_EVENTS) == [expected]


def test_moves_outside_the_table_raise(make_rig):
    rig = make_rig()
    with pytest.raises(AssertionError, match="illegal listener move ACTIVE on RESTART"):
        rig.listener._fire(Trigger.RESTART)
    assert rig.state is A


def test_restart_outside_failed_does_nothing(make_rig):
    rig = make_rig()
    rig.listener.restart()
    rig.step()
    assert rig.state is A and rig.sc.count("listen") == 1


# -- errno classes ---------------------------------------------------------------------------


def _name(code: int) -> str:
    return errno.errorcode[code]


def test_errno_classes_are_disjoint_and_hold_the_documented_codes():
    assert not PER_CONNECTION & CAPACITY and not CAPACITY & FATAL and not PER_CONNECTION & FATAL
    assert {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM} == CAPACITY
    assert {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR} <= PER_CONNECTION
    assert {errno.EBADF, errno.ENOTSOCK, errno.EINVAL} <= FATAL
    # Linux passes pending network errors through accept(): see accept_errors' docstring
    assert errno.EOPNOTSUPP in PER_CONNECTION
    assert classify(errno.EIO) is ErrnoClass.UNKNOWN and classify(None) is ErrnoClass.UNKNOWN


@pytest.mark.parametrize("code", sorted(PER_CONNECTION), ids=_name)
def test_per_connection_errors_are_skipped_and_counted(make_rig, code):
    rig = make_rig()
    rig.sc.push(os_error(code))
    rig.push(1)
    rig.mark()
    rig.fire()
    assert rig.state is A
    stats = rig.listener.stats()
    assert (stats.skipped, stats.accepted, stats.accept_errors) == (1, 1, 1)
    failed = rig.new_events(EventKind.ACCEPT_FAILED)
    assert [(e.value, e.detail["errno"]) for e in failed] == [(code, _name(code))]
    assert rig.kinds(STATE_EVENTS) == []


@pytest.mark.parametrize("code", sorted(CAPACITY), ids=_name)
def test_capacity_errors_suspend_without_spinning(make_rig, code):
    rig = make_rig()
    rig.sc.push(os_error(code))
    rig.push(1)  # still waiting: a level-triggered poller would report it again and again
    rig.mark()
    rig.fire()
    assert rig.state is S
    (event,) = rig.new_events(STATE_EVENTS)
    assert (event.kind, event.value) == (EventKind.SUSPENDED, code)
    assert event.detail["errno"] == _name(code)
    calls = rig.sc.accept_calls
    rig.step(20)  # no time passes: nothing may call accept() again
    assert rig.sc.accept_calls == calls
    assert not rig.listener._interest  # read interest is off while a connection waits


@pytest.mark.parametrize("code", [*sorted(FATAL), errno.EIO], ids=_name)
def test_fatal_and_unknown_errors_fail(make_rig, code):
    rig = make_rig()
    port = rig.listener.endpoint.rsplit(":", 1)[1]
    rig.sc.push(os_error(code))
    rig.mark()
    rig.fire()
    assert rig.state is F
    (event,) = rig.new_events(STATE_EVENTS)
    assert (event.kind, event.value, event.detail["errno"]) == (EventKind.FAILED, code, _name(code))
    # the socket is closed: clients are refused at once, not left in a backlog
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()


# -- the fd budget ---------------------------------------------------------------------------


def test_default_budget_is_the_soft_limit_minus_headroom(make_rig):
    assert default_fd_budget(64) == 48
    assert default_fd_budget(1024) == 960
    assert default_fd_budget(1 << 20) == (1 << 20) - 1024
    assert default_fd_budget(64, headroom=4) == 60
    rig = make_rig({"nofile": 64}, max_connections=None)
    assert rig.listener.max_connections == 48
    assert rig.listener.stats().max_connections == 48
    other = make_rig({"nofile": 100}, max_connections=None, fd_headroom=10)
    assert other.listener.max_connections == 90


def test_budget_counts_every_framework_fd_and_suspends_before_accept(make_rig):
    rig = make_rig(max_connections=3)
    outgoing, peer = socket.socketpair()  # say, a connecter's socket: it counts too
    rig.peers.append(peer)
    rig.ctx.fds.track(outgoing)
    rig.push(3)
    rig.mark()
    rig.fire()
    # listening socket + outgoing + one accepted connection = 3: the budget is reached
    assert rig.listener.accepted == 1
    assert rig.sc.accept_calls == 1  # the budget stopped us before a second accept()
    assert rig.state is S
    (event,) = rig.new_events(STATE_EVENTS)
    assert (event.kind, event.value, event.detail["errno"]) == (EventKind.SUSPENDED, 0, "0")
    assert (event.detail["open_fds"], event.detail["max_connections"]) == (3, 3)
    rig.ctx.fds.close(outgoing)  # released anywhere in the context: the listener retries
    rig.step()
    assert rig.listener.accepted == 2


# -- wake-ups --------------------------------------------------------------------------------


def test_a_released_fd_wakes_the_listener_at_once(make_rig):
    rig = make_rig(max_connections=2)
    to_suspended_budget(rig)
    assert rig.ctx.fds.is_watching(rig.listener)
    now = rig.ctx.clock.now
    rig.peers[0].close()  # the client of the accepted connection hangs up
    rig.step(5)  # its engine closes the socket: FD_RELEASED reaches the listener
    assert rig.ctx.clock.now == now  # no timer could have fired
    assert rig.listener.accepted == 2


def test_the_timer_covers_fds_freed_outside_the_framework(make_rig):
    rig = make_rig()
    to_suspended_capacity(rig)
    rig.sc.free_fds = 1  # freed by someone else: no FD_RELEASED
    rig.step(10)
    assert rig.listener.accepted == 0
    rig.advance(BACKOFF_MIN * 0.8)
    assert rig.listener.accepted == 0
    rig.advance(BACKOFF_MIN * 0.4)
    assert rig.listener.accepted == 1
    assert rig.state is S  # accepted, but the model has no descriptor left for more


def _accept_calls_after(rig: Rig, seconds: float) -> int:
    before = rig.sc.accept_calls
    rig.advance(seconds)
    return rig.sc.accept_calls - before


def test_retry_backoff_doubles_to_one_second_and_resets_after_an_accept(make_rig):
    rig = make_rig(shed_policy="none")  # no grace timer: only the backoff retries
    to_suspended_capacity(rig)
    gap = BACKOFF_MIN
    while True:
        assert _accept_calls_after(rig, gap * 0.9) == 0, gap
        assert _accept_calls_after(rig, gap * 0.2) == 1, gap
        if gap == BACKOFF_MAX:
            break
        gap = min(gap * 2, BACKOFF_MAX)
    assert _accept_calls_after(rig, BACKOFF_MAX * 0.9) == 0  # stays at the cap
    assert _accept_calls_after(rig, BACKOFF_MAX * 0.2) == 1
    # a successful accept starts the backoff over
    rig.push(1)
    rig.sc.free_fds = 1
    assert _accept_calls_after(rig, BACKOFF_MAX * 1.1) == 2  # accepted one, EMFILE on the next
    assert rig.listener.accepted == 1 and rig.state is S
    assert _accept_calls_after(rig, BACKOFF_MIN * 0.9) == 0
    assert _accept_calls_after(rig, BACKOFF_MIN * 0.2) == 1
    # ... also when the accept came from a release while a long timer was pending
    while rig.listener._backoff < BACKOFF_MAX:
        rig.advance(rig.listener._backoff)
    rig.push(1)
    rig.sc.free_fds = 1
    rig.ctx.fds.released()
    rig.step()
    assert rig.listener.accepted == 2 and rig.state is S
    assert _accept_calls_after(rig, BACKOFF_MIN * 0.9) == 0
    assert _accept_calls_after(rig, BACKOFF_MIN * 0.2) == 1


# -- the grace period and the shedding policies ----------------------------------------------


def test_grace_expiry_sheds_with_resets_the_clients_see(make_rig):
    rig = make_rig()
    rig.sc.free_fds = 0
    peers = rig.push(2, tcp=True)
    rig.fire()
    assert rig.state is S
    rig.advance(GRACE * 0.95)
    assert rig.listener.stats().shed == 0 and rig.sc.count("reset") == 0
    rig.mark()
    rig.advance(GRACE * 0.1)
    assert [e.value for e in rig.new_events(EventKind.SHED)] == [2]
    assert rig.sc.count("reset") == 2
    for peer in peers:
        peer.settimeout(2)
        with pytest.raises(ConnectionResetError):
            peer.recv(1)
    # the dance: reserve closed, two accepts, EAGAIN, reserve taken back; then SUSPENDED again
    names = [name for name, _ in rig.sc.calls]
    dance = names[names.index("close_fd"):]
    assert dance[:7] == ["close_fd", "accept", "reset", "accept", "reset", "accept", "open_reserve"]
    assert rig.state is S
    # a last retry fails, then the grace expires, then the probe after shedding fails
    assert rig.new_moves()[:3] == [
        (S, Trigger.CAPACITY, S), (S, Trigger.GRACE_EXPIRED, R), (R, Trigger.CAPACITY, S)
    ]


def test_the_dance_is_serialised_with_the_frameworks_own_fd_openings(make_rig):
    """While the reserve is closed, no framework thread may open a descriptor."""
    rig = make_rig()
    rig.sc.free_fds = 0
    during: list[bool] = []
    opened = threading.Event()

    def other_io_thread() -> None:
        with rig.ctx.fds.opening():  # what accept/connect on another I/O thread do
            opened.set()

    def waiting_connection() -> socket.socket:  # runs inside the dance, on its accept()
        thread = threading.Thread(target=other_io_thread)
        thread.start()
        during.append(opened.wait(0.1))
        threads.append(thread)
        ours, theirs = socket.socketpair()
        rig.peers.append(theirs)
        return ours

    threads: list[threading.Thread] = []
    rig.sc.push(waiting_connection)
    rig.fire()
    rig.advance(GRACE)
    assert rig.listener.stats().shed == 1
    assert during == [False]  # blocked while the reserve was out...
    threads[0].join(2)
    assert opened.is_set()  # ... and let through once it was back


def test_grace_counts_from_the_arrival_not_from_the_suspension(make_rig):
    """Suspended with an empty backlog, the listener keeps read interest as an arrival
    detector: a client arriving much later gets its full grace period, no more, no less."""
    rig = make_rig()
    rig.sc.free_fds = 0
    rig.fire()  # EMFILE, nothing waiting
    assert rig.state is S and rig.listener._interest
    rig.advance(5.0)
    rig.push(1)
    port = int(rig.listener.endpoint.rsplit(":", 1)[1])
    real = socket.create_connection(("127.0.0.1", port), timeout=2)  # makes the fd readable
    rig.peers.append(real)
    rig.step()  # the poller reports it; the listener retries, fails, starts the clock
    assert not rig.listener._interest
    rig.advance(GRACE * 0.95)
    assert rig.listener.stats().shed == 0
    rig.advance(GRACE * 0.1)
    assert rig.listener.stats().shed == 1


def test_without_a_queue_length_an_accept_restarts_the_grace_period(make_rig):
    """ipc, and platforms that report no accept-queue length: the one stall clock."""
    rig = make_rig()
    rig.sc.free_fds = 0
    rig.push(2)
    rig.fire()
    rig.advance(GRACE * 0.6)
    rig.sc.free_fds = 1  # the head of the backlog is served...
    rig.advance(BACKOFF_MAX)  # ... by some retry within the next second
    assert rig.listener.accepted == 1 and rig.state is S
    served_at = rig.listener.history()[-1].time
    rig.ctx.clock.now = served_at + GRACE * 0.95  # (the fake clock may jump)
    rig.step()
    assert rig.listener.stats().shed == 0
    rig.advance(GRACE * 0.1)
    assert rig.listener.stats().shed == 1


def _released(rig: Rig) -> None:
    """A framework descriptor was closed somewhere in the context (the listener looks)."""
    rig.ctx.fds.released()
    rig.step()


def test_a_late_arrival_keeps_waiting_and_is_served_when_descriptors_return(make_rig):
    """Grace per connection: only the connection whose own grace ran out is shed."""
    rig = make_rig({"report_queue": True})
    rig.sc.free_fds = 0
    (early,) = rig.push(1, tcp=True)
    rig.fire()
    assert rig.state is S
    rig.advance(GRACE - 0.2)
    (late,) = rig.push(1, tcp=True)
    _released(rig)  # a look: the queue is 2 long, the new one is stamped now
    assert len(rig.listener._arrivals) == 2
    rig.mark()
    rig.advance(0.2 + 1e-3)  # the early one's deadline
    assert [e.value for e in rig.new_events(EventKind.SHED)] == [1]
    assert rig.state is S and len(rig.listener._arrivals) == 1
    early.settimeout(2)
    with pytest.raises(ConnectionResetError):
        early.recv(1)
    rig.advance(0.5)  # descriptors come back 0.5 s later, before the late one's deadline
    rig.sc.free_fds = 10
    _released(rig)
    assert rig.state is A and rig.listener.accepted == 1
    assert rig.listener.stats().shed == 1 and rig.sc.count("reset") == 1
    with pytest.raises(BlockingIOError):  # served, not reset: silence, not ECONNRESET
        late.recv(1, socket.MSG_DONTWAIT)


def test_in_a_trickle_nobody_is_shed_before_their_own_grace(make_rig):
    """Arrivals every 0.25 s while exhausted: each shed comes at or after that client's
    own deadline (stamps are taken when an arrival is first seen: never early)."""
    rig = make_rig({"report_queue": True})
    rig.sc.free_fds = 0
    clock = rig.ctx.clock
    arrived: list[float] = []
    shed_at: list[float] = []  # the time each successive shed happened (FIFO order)
    rig.listener.events.subscribe(
        lambda e: shed_at.extend([clock()] * e.value), EventKind.SHED)
    rig.fire()  # EMFILE with nothing waiting: the arrival detector is on
    for i in range(40):  # 10 s of trickle, 0.05 s steps
        if i % 5 == 0 and len(arrived) < 8:
            rig.push(1, tcp=True)
            arrived.append(clock())
            _released(rig)  # the arrival detector's wake-up, as a real arrival would
        rig.advance(0.05)
    for _ in range(60):
        rig.advance(0.05)
    assert len(shed_at) == len(arrived) == 8
    for came, went in zip(arrived, shed_at):
        assert went - came >= GRACE - 1e-6, "a client was shed before its own grace"
        assert went - came <= GRACE + 0.1


def test_an_arrival_behind_a_waiting_connection_is_stamped_within_a_quarter_grace(make_rig):
    """Read interest is off while A waits, so B's arrival is seen at the next look; while
    stamps are kept, looks come at least every accept_grace / 4 (not the 1 s backoff)."""
    rig = make_rig({"report_queue": True})
    rig.sc.free_fds = 0
    clock = rig.ctx.clock
    shed_at: list[float] = []
    rig.listener.events.subscribe(lambda e: shed_at.extend([clock()] * e.value), EventKind.SHED)
    rig.push(1)
    rig.fire()
    for _ in range(10):
        rig.advance(0.05)  # the backoff has grown past 250 ms by now
    rig.push(1)  # B arrives; nothing tells the listener
    b_arrived = clock()
    for _ in range(60):
        rig.advance(0.05)
    assert len(shed_at) == 2
    # a quarter grace late at most, plus one 50 ms step for the look and one for the shed
    assert GRACE - 1e-6 <= shed_at[1] - b_arrived <= GRACE * 1.25 + 0.1 + 1e-6


def test_a_queue_found_shorter_than_the_stamps_never_makes_anyone_older(make_rig):
    rig = make_rig({"report_queue": True})
    rig.sc.free_fds = 0
    rig.push(3)
    rig.fire()
    rig.advance(0.5)
    rig.sc.queue_length = 1  # two clients gave up; which ones, the kernel does not say
    _released(rig)
    assert len(rig.listener._arrivals) == 1
    rig.sc.queue_length = 2  # and one more arrives
    _released(rig)
    arrivals = list(rig.listener._arrivals._times)
    assert arrivals[0] >= rig.ctx.clock() - 0.5 - 1e-9 and arrivals[1] == rig.ctx.clock()


def test_the_real_accept_queue_length_on_this_platform():
    """Linux: TCP_INFO on a LISTEN socket reports the accept queue in tcpi_unacked."""
    sc = Syscalls()
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        server.setblocking(False)
        if sc.accept_queue_length(server) is None:
            pytest.skip("this platform reports no accept-queue length")
        assert sc.accept_queue_length(server) == 0
        clients = [socket.create_connection(server.getsockname()) for _ in range(3)]
        try:
            assert sc.accept_queue_length(server) == 3
            conn, _ = server.accept()
            conn.close()
            assert sc.accept_queue_length(server) == 2
        finally:
            for client in clients:
                client.close()
    a, b = socket.socketpair()
    with a, b:
        assert sc.accept_queue_length(a) is None  # not TCP: unknown


def test_reopen_policy_drops_the_kernel_backlog(make_rig):
    rig = make_rig(shed_policy="reopen")
    port = int(rig.listener.endpoint.rsplit(":", 1)[1])
    rig.sc.free_fds = 0
    rig.push(1)
    rig.fire()
    assert rig.state is S
    waiting = socket.create_connection(("127.0.0.1", port), timeout=2)  # in the real backlog
    rig.peers.append(waiting)
    old_sock = rig.listener.sock
    rig.mark()
    rig.advance(GRACE)
    assert rig.kinds(EventKind.REOPENED) == [EventKind.REOPENED]
    assert rig.listener.sock is not old_sock and old_sock.fileno() == -1
    assert rig.listener.endpoint == f"tcp://127.0.0.1:{port}"
    assert rig.listener.stats().reopens == 1
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        if waiting.recv(1) == b"":
            raise ConnectionResetError("EOF")  # (either way: told, not left hanging)
    # the address listens again
    again = socket.create_connection(("127.0.0.1", port), timeout=2)
    rig.peers.append(again)
    assert (S, Trigger.GRACE_EXPIRED, R) in rig.new_moves()


def test_reopen_that_cannot_bind_retries_then_fails(make_rig):
    rig = make_rig(shed_policy="reopen", recovery_tries=3)
    to_suspended_capacity(rig)
    rig.sc.bind_failures = 2  # someone holds the port for a while
    rig.advance(GRACE)
    assert rig.state is R and rig.listener.sock is None
    rig.advance(BACKOFF_MIN)
    assert rig.state is R
    rig.advance(2 * BACKOFF_MIN)  # the third bind works
    assert rig.state is S and rig.listener.stats().reopens == 1
    assert rig.kinds(EventKind.REOPENED) == [EventKind.REOPENED]
    rig.push(1)
    rig.fire()  # (a new arrival, still no descriptor)
    rig.sc.bind_failures = 100  # now the port is gone for good
    rig.advance(GRACE)
    for _ in range(3):
        rig.advance(BACKOFF_MAX)
    assert rig.state is F
    assert rig.events[-1].kind is EventKind.FAILED
    assert rig.events[-1].detail == {"errno": "EADDRINUSE", "from": "REOPENING", "trigger": "gave up"}


def test_none_policy_never_sheds(make_rig):
    rig = make_rig(shed_policy="none")
    to_suspended_capacity(rig)
    for _ in range(10):
        rig.advance(1.0)
    assert rig.state is S
    assert rig.sc.count("reset") == 0 and rig.sc.count("close_fd") == 0
    assert rig.listener.stats().shed == 0 and len(rig.sc.accepts) == 1


def test_grace_zero_sheds_at_the_next_iteration(make_rig):
    rig = make_rig(accept_grace=0)
    to_suspended_capacity(rig)
    rig.step()
    assert rig.listener.stats().shed == 1


def test_reserve_that_cannot_be_retaken_ends_in_failed(make_rig):
    called: list[zreactor.ReactorEvent] = []
    rig = make_rig(recovery_tries=3, on_failed=called.append)
    port = int(rig.listener.endpoint.rsplit(":", 1)[1])
    to_suspended_capacity(rig)
    rig.sc.reserve_failures = 100
    rig.advance(GRACE)
    assert rig.state is R
    rig.advance(BACKOFF_MIN)
    assert rig.state is R
    rig.advance(2 * BACKOFF_MIN)
    assert rig.state is F
    assert rig.sc.count("open_reserve") == 1 + 3  # the one at bind, then three tries
    assert [(e.kind, e.detail["errno"]) for e in called] == [(EventKind.FAILED, "EMFILE")]
    assert rig.listener.wait_failed(timeout=0)
    stats = rig.listener.stats()
    assert (stats.state, stats.failures, stats.last_errno) == (F, 1, "EMFILE")
    # nothing left running: no timer, no watch, no socket
    assert rig.ctx.io_threads[0].poller.timer_count == 0
    assert not rig.ctx.fds.is_watching(rig.listener)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_enfile_sheds_and_a_reserve_lost_to_the_system_is_retried(make_rig):
    """ENFILE: another process may take the slot the reserve frees (docs/LISTENER.md)."""
    rig = make_rig({"capacity_errno": errno.ENFILE, "reserve_errno": errno.ENFILE},
                   recovery_tries=3)
    rig.sc.free_fds = 0
    rig.push(1)
    rig.fire()
    assert rig.state is S and rig.events[-1].detail["errno"] == "ENFILE"
    rig.sc.reserve_failures = 1  # someone else got the slot first
    rig.advance(GRACE)
    assert rig.state is R and rig.listener.stats().shed == 1
    assert rig.new_events(EventKind.SHED)[-1].detail["reserve"] == "lost"
    rig.sc.free_fds = 1  # the system gives one back: the reserve is taken again
    rig.advance(BACKOFF_MIN)
    assert rig.listener._reopening.reserve is not None and rig.state is S
    # and if it never comes back, FAILED says ENFILE
    rig.sc.reserve_failures = 100
    rig.advance(GRACE)  # (nothing waits now: no shed, no dance)
    assert rig.state is S
    rig.push(1)
    rig.fire()
    rig.advance(GRACE)
    for _ in range(3):
        rig.advance(BACKOFF_MAX)
    assert rig.state is F and rig.events[-1].detail["errno"] == "ENFILE"


def test_releases_do_not_use_up_the_recovery_tries(make_rig):
    rig = make_rig(recovery_tries=2)
    to_reopening(rig)
    rig.sc.reserve_failures = 100
    for _ in range(10):  # a storm of releases, each one a failed attempt
        rig.ctx.fds.released()
        rig.step()
    assert rig.state is R


def test_restart_binds_the_same_address_again(make_rig):
    rig = make_rig()
    endpoint = rig.listener.endpoint
    to_failed(rig)
    rig.sc.bind_failures = 1
    rig.listener.restart()
    rig.step()
    assert rig.state is F  # the address was taken: FAILED again, with the errno
    assert rig.events[-1].kind is EventKind.FAILED
    assert rig.events[-1].detail["errno"] == "EADDRINUSE"
    rig.listener.restart()
    rig.step()
    assert rig.state is A and rig.listener.endpoint == endpoint
    assert rig.events[-1].kind is EventKind.LISTENING
    rig.push(1)
    rig.fire()
    assert rig.listener.accepted == 1
    assert rig.listener.stats().failures == 1  # entered FAILED once; a failed restart stays


# -- closing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup",
    [_nothing, to_suspended_capacity, to_reopening, to_failed],
    ids=["ACTIVE", "SUSPENDED", "REOPENING", "FAILED"],
)
def test_close_from_every_state_ends_cleanly(make_rig, setup):
    rig = make_rig()
    setup(rig)
    rig.mark()
    rig.close()
    assert rig.state is C
    assert rig.kinds(STATE_EVENTS) == [EventKind.CLOSED]
    assert rig.ctx.io_threads[0].poller.timer_count == 0
    assert not rig.ctx.fds.is_watching(rig.listener)
    assert rig.listener.sock is None and rig.listener._reopening.reserve is None
    rig.ctx.fds.released()  # a late release reaches nobody
    rig.step()
    assert rig.state is C


# -- events, logs and counters ---------------------------------------------------------------


def test_an_episode_emits_suspended_then_resumed_with_its_duration(make_rig):
    rig = make_rig()
    to_suspended_capacity(rig)
    rig.sc.free_fds = 5
    rig.ctx.clock.advance(0.25)
    rig.ctx.fds.released()
    rig.step()
    kinds = [(e.kind, e.value) for e in rig.events
             if e.kind & (EventKind.SUSPENDED | EventKind.RESUMED)]
    assert kinds == [(EventKind.SUSPENDED, errno.EMFILE), (EventKind.RESUMED, 250)]
    assert rig.events[-1].detail == {"from": "SUSPENDED", "trigger": "room"}


def _episode(rig: Rig, length: float) -> None:
    to_suspended_capacity(rig)
    rig.ctx.clock.advance(length)
    rig.sc.free_fds = 5
    rig.ctx.fds.released()
    rig.step()
    assert rig.state is A


def test_log_lines_are_one_per_episode_and_quiet_when_flapping(make_rig, caplog):
    caplog.set_level(logging.INFO, logger="zreactor")
    rig = make_rig()
    to_suspended_capacity(rig)
    for _ in range(15):  # many failed retries (within the grace period): still one line
        rig.advance(0.05)
    rig.sc.free_fds = 5
    rig.advance(1.0)
    assert rig.state is A
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0][0] == "WARNING" and "not accepting: EMFILE" in lines[0][1]
    assert lines[1][0] == "INFO" and "accepting again" in lines[1][1]
    caplog.clear()
    _episode(rig, 0.1)  # within the quiet period: folded
    _episode(rig, 0.1)
    assert caplog.records == []
    rig.ctx.clock.advance(LOG_QUIET_PERIOD)
    _episode(rig, 0.1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "(2 more episodes since the last report)" in warnings[0]
    assert rig.listener.stats().episodes == 4


def test_shedding_and_failure_are_logged(make_rig, caplog):
    caplog.set_level(logging.INFO, logger="zreactor")
    rig = make_rig(recovery_tries=1)
    to_suspended_capacity(rig)
    rig.sc.reserve_failures = 5
    rig.advance(GRACE)
    assert rig.state is F
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(lvl == "INFO" and "reset 1 waiting connection(s); reserve descriptor lost" in m
               for lvl, m in messages), messages
    assert any(lvl == "ERROR" and "listener FAILED (gave up, EMFILE)" in m
               for lvl, m in messages), messages


def test_counters(make_rig):
    rig = make_rig()
    rig.sc.push(os_error(errno.ECONNABORTED))
    rig.push(2)
    rig.fire()  # 2 accepted, 1 skipped
    to_suspended_capacity(rig)  # episode 1; one waiting
    start = rig.ctx.clock.now
    rig.advance(GRACE)  # shed 1
    rig.advance(0.5)
    rig.sc.free_fds = 5
    rig.ctx.fds.released()
    rig.step()
    assert rig.state is A
    stats = rig.listener.stats()
    assert stats.state is A
    assert (stats.accepted, stats.shed, stats.skipped, stats.episodes) == (2, 1, 1, 1)
    assert stats.accept_errors >= 2 and stats.retries >= 2
    assert stats.suspended_seconds == pytest.approx(rig.ctx.clock.now - start)
    assert (stats.reopens, stats.failures, stats.last_errno) == (0, 0, "EMFILE")
    assert stats.open_fds == rig.ctx.fds.open_count
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.accepted = 0  # type: ignore[misc]


def test_suspended_time_includes_the_current_stretch(make_rig):
    rig = make_rig()
    to_suspended_capacity(rig)
    rig.advance(0.3)
    assert rig.listener.stats().suspended_seconds == pytest.approx(0.3)


# -- threads ---------------------------------------------------------------------------------


class _Echo(StreamEngine):
    def data_received(self, data: bytes) -> None:
        self.write(data)


class _FailsOnce(Syscalls):
    """The first accept() fails with EBADF; the rest are real."""

    def __init__(self) -> None:
        self.failed = False

    def accept(self, listener: socket.socket) -> tuple[socket.socket, Any]:
        if not self.failed:
            self.failed = True
            raise os_error(errno.EBADF)
        return super().accept(listener)


def test_wait_failed_restart_and_stats_from_another_thread():
    """A real context: the I/O thread runs on its own; the test thread only watches."""
    sc = _FailsOnce()
    failed = threading.Event()
    with zreactor.Context() as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", _Echo, syscalls=sc,
                              on_failed=lambda event: failed.set())
        port = int(listener.endpoint.rsplit(":", 1)[1])
        # The arrival only triggers the scripted EBADF; the failed listener then resets it,
        # possibly before a slow client thread has returned from connect(): start the
        # connect without waiting on it, so that reset cannot surface here.
        trigger = socket.socket()
        trigger.setblocking(False)
        try:
            trigger.connect_ex(("127.0.0.1", port))
            assert listener.wait_failed(timeout=5)  # EBADF on the scripted accept
        finally:
            trigger.close()
        assert failed.wait(5) and listener.listener_state is F
        listener.restart()
        assert listener.wait_state(A, timeout=5)
        snapshots = []
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                snapshots.append(listener.stats())

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for _ in range(20):
                with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
                    client.sendall(b"x")
                    assert client.recv(1) == b"x"
        finally:
            stop.set()
            thread.join(5)
        counts = [s.accepted for s in snapshots]
        assert counts == sorted(counts) and listener.stats().accepted == 20
        assert all(s.state is A for s in snapshots)


def test_context_listen_forwards_the_options():
    with zreactor.Context() as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", _Echo, max_connections=7, accept_grace=0.25,
                              shed_policy="reopen", recovery_tries=2)
        assert (listener.max_connections, listener.accept_grace) == (7, 0.25)
        assert listener.shed_policy.value == "reopen" and listener.recovery_tries == 2
        assert listener._reopening.reserve is None  # only the reset policy holds a reserve
    with pytest.raises(ValueError):
        Listener("tcp://127.0.0.1:0", _Echo, shed_policy="drop")
    with pytest.raises(ValueError):
        Listener("tcp://127.0.0.1:0", _Echo, accept_grace=-1)


def test_adopting_a_socket_that_is_not_listening_is_refused():
    sock = socket.socket()
    try:
        with pytest.raises(ValueError, match="already listening"):
            Listener("tcp://127.0.0.1:0", _Echo).bind(sock)
    finally:
        sock.close()


# -- the docs --------------------------------------------------------------------------------


def test_the_docs_draw_exactly_the_transition_table():
    text = DOCS.read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert [b.strip() for b in blocks] == [render_mermaid().strip()]
    for (source, trigger), move in TRANSITIONS.items():
        assert f"{source.name} --> {move.target.name}" in render_mermaid()


# -- abortive close ----------------------------------------------------------------------------


class _CloseAtOnce(StreamEngine):
    """Closes as soon as the client says something: the server closes first."""

    def data_received(self, data: bytes) -> None:
        self.close()


def _time_wait(port: int) -> int:
    """Sockets in TIME_WAIT whose local port is ``port`` (Linux /proc/net/tcp)."""
    count = 0
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "06":
            count += 1
    return count


@pytest.mark.skipif(not pathlib.Path("/proc/net/tcp").exists(), reason="Linux /proc")
@pytest.mark.parametrize("abortive", [False, True])
def test_abortive_close_leaves_no_time_wait_and_resets_the_client(abortive):
    with zreactor.Context(io_threads=1) as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", _CloseAtOnce, abortive_close=abortive)
        port = int(listener.endpoint.rsplit(":", 1)[1])
        outcomes = []
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"hi")
                try:
                    outcomes.append(client.recv(10))
                except ConnectionResetError:
                    outcomes.append("reset")
        if abortive:
            assert outcomes == ["reset"] * 5 and _time_wait(port) == 0
        else:
            assert outcomes == [b""] * 5 and _time_wait(port) == 5


def test_a_tiny_backlog_drops_rather_than_refuses_on_linux():
    """Documented in LISTENER.md: backlog 0 holds one connection; the rest are not refused,
    their SYNs go unanswered and the clients retry silently (tcp_abort_on_overflow = 0)."""
    knob = pathlib.Path("/proc/sys/net/ipv4/tcp_abort_on_overflow")
    if not knob.exists() or knob.read_text().strip() != "0":
        pytest.skip("Linux with tcp_abort_on_overflow = 0 only")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        clients = [socket.socket() for _ in range(3)]
        try:
            for client in clients:
                client.setblocking(False)
                assert client.connect_ex(server.getsockname()) in (0, errno.EINPROGRESS)
            _, writable, _ = select.select([], clients, [], 0.5)
            assert len(writable) == 1  # backlog + 1 completed handshakes
            assert writable[0].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            for client in clients:
                if client not in writable:  # not refused: still retrying its SYN
                    assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            assert Syscalls().accept_queue_length(server) == 1
        finally:
            for client in clients:
                client.close()
