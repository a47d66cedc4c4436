"""One state-machine helper for every machine in zreactor: a table, ``fire`` and ``peek``.

Theory of operation
-------------------
h11 writes its protocol as one table of *event-triggered* moves, ``(state, event) -> state``,
and generates its documentation's diagrams from that same table. Every machine in zreactor
(the ownership handshake, an engine's lifecycle, a stream's two halves, the connecter, the
listener's accept path, pipe termination, REQ and REP, the session's linger, the ZMTP
handshake, the ZMTP engine's flow control) is written the same way, with this module, and
``zreactor.diagrams`` lists them all:

* the states are one :class:`enum.Enum`, the events another;
* :class:`Machine` holds the table: ``{(state, event): target}``, where a target is a state
  or a :class:`Row` (a state plus an *action* run on that move and a *data* value the caller
  may read, such as the event the listener announces);
* :meth:`Machine.fire` is the only way an object changes state. It looks the move up,
  commits it, runs the actions, and returns the row; a move the table does not list raises
  before anything changes;
* :meth:`Machine.peek` only checks: it returns the row ``fire`` would take, and raises what
  ``fire`` would raise, changing nothing. REQ uses it: a ``send()`` that finds every peer
  full has not happened yet, so the socket checks first and fires once the request is out;
* :func:`render_mermaid` draws any machine; ``zreactor.diagrams`` uses it for every diagram
  in the docs, and ``tests/test_docs.py`` fails if a committed diagram drifted from its table.

Rules the helper keeps
----------------------
1. *The state lives on the object*, in one attribute the machine names (``attr``): the
   object reads ``self.state is X`` as before, without an extra object per instance (a
   machine fired per message keeps it in a :class:`Cell` instead: *Cells*, below), and an
   object may carry several machines (an engine is also an :class:`~.own.Own`; a ZMTP engine
   has two flow machines over one table). Only :meth:`Machine.fire` writes that attribute,
   as a plain attribute (``object.__setattr__``: a class's ``__setattr__`` hook is not run).
2. *Order of a move*: the state is committed first, then the row's action runs, then the
   target state's entry action (UML's order: transition, then entry). Both see the new state,
   so an action that fires a further event starts from there. A self-loop (a row whose
   target is its source) runs the entry action again: it is a move like any other.
3. *What an illegal move raises*: by default :class:`IllegalMove`, an ``AssertionError``,
   because most machines only hear events from our own code and an unlisted move is a broken
   invariant. A machine whose events come from the user (REQ's ``recv()`` before ``send()``)
   or from the local side of a protocol passes ``error=``, a callable building its own
   exception (``ZMQError(EFSM)``, ``LocalProtocolError``) from the same message.
4. *Nothing here touches a socket, a thread or a lock.* ``fire`` runs on whatever thread
   owns the object; the machine itself is immutable after construction, so one instance is
   shared by every object of a class, across threads. The one mutable part is the test seam
   :meth:`Machine.record`, which tests use to see which rows a scenario took (instead of
   overriding a private method); it costs ``fire`` one attribute test while nobody records.

*Cells: a machine fired per message.* Rule 1's attribute costs a move two generic accesses,
``getattr`` to read the state and ``object.__setattr__`` to write it (the latter builds two
argument tuples: together ~1,400 instructions under callgrind, about as much as the rest of
the move, its call included). That is nothing for an engine's lifecycle, and half of a move
for REQ and REP, which move twice per round trip each. So a machine fired per message may
keep its state in a :class:`Cell` (one ``state`` slot, and the object it belongs to, for
messages): its object holds the cell and reads ``self._turn.state is X``, and a
:class:`CellMachine` moves the cell with two attribute accesses the interpreter specialises
(``cell.state``). A cell's class has no ``__setattr__`` hook to bypass, so rule 1 holds as
it is: only ``fire`` writes the state, as a plain attribute. Everything else (the table, the
order of a move, the errors, ``peek``; actions and recorders, which see the cell) is the
machine's.

*Known moves: a path that knows where it stands.* A per-message path that has just tested
its cell's state (REQ's and REP's express exchange: ``turn.state is SEND_REQUEST`` before a
request goes out) knows the row it will take before it takes it, so looking it up again on
every message buys nothing. :meth:`CellMachine.move` looks one row up once, at import, and
returns it as a :class:`Move`; ``Move.fire(cell)`` is ``machine.fire(cell, event)`` for that
row: the same write (rule 1), returning the same row. It commits the target at once only
when the cell is in the row's source and nobody records (the move then has nothing else to
do: a row with an action, or a target with an entry action, cannot be made a :class:`Move`);
anything else (another state, a recorder) goes through :meth:`Machine.fire` itself, so an
illegal move raises what it raises and a recorder sees every step. About half of a move's
cost, twice per round trip for each lock-step socket.

*Members on the per-message paths.* In CPython 3.11 ``enum.EnumType`` defines
``__getattr__``, so reading a member from its class (``EngineState.ATTACHED``) takes the
slow generic attribute path every time (~0.2 us, ~860 instructions: the class cannot be
specialised), where a module global costs a few instructions. A function that runs per
message (the caller shortcut's questions, an engine's pull and deliver, the pipe's wake-ups,
REQ/REP) therefore compares against module-level aliases of the members it tests, named for
them (``_ATTACHED = EngineState.ATTACHED``); everything else spells the member. Identity is
unchanged: the alias *is* the member.

The table is validated when the module defining it is imported: every key is a
``(state, event)`` pair of the machine's two enums and every target a state, so a typo fails
at import time, not on the first rare move.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Generic, NamedTuple, TypeVar

__all__ = ["Cell", "CellMachine", "IllegalMove", "Machine", "Move", "Row", "Step",
           "render_mermaid"]

#: How :meth:`Machine.fire` writes the state attribute: the generic store, past any
#: ``__setattr__`` override of the object's class. A socket's override (pyzmq's strict option
#: names, ``sockets/conveniences.py``) lets every state attribute through anyway, and going
#: through it cost ~2,300 instructions per move (a Python call per ``fire``); this store
#: costs ~1,100 (two argument tuples), which is why the machines fired per message move a
#: :class:`Cell` instead (module docstring, *Cells*).
_store = object.__setattr__

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)

#: An action: called with the object that moved, after the state was committed.
Action = Callable[[Any], object]


class IllegalMove(AssertionError):
    """A move the machine's table does not list (see rule 3 in the module docstring)."""


class Row(NamedTuple):
    """What one table row does: the state to enter, and optionally more.

    Attributes:
        target: the state the move enters.
        action: called with the object after the state was committed, before the target's
            entry action; ``None``: nothing to do.
        data: any value the caller reads from the row ``fire`` returns (the listener's table
            keeps the event it announces here); the machine never looks at it.
    """

    target: Any
    action: Action | None = None
    data: Any = None


class Step(NamedTuple):
    """One move seen by :meth:`Machine.record`."""

    obj: Any
    source: Any
    event: Any
    target: Any


class Machine(Mapping[tuple[S, E], Row], Generic[S, E]):
    """An event-triggered state machine: ``(state, event) -> Row(target, ...)``.

    The machine is also the read-only mapping of its rows, in table order, so tests and
    renderers iterate it like the table it is (``for (source, event), row in m.items()``).

    Args:
        name: what the machine is, for error messages and diagrams ("pipe", "REQ").
        initial: the state every object starts in (``[*] -->`` in the diagram).
        table: ``{(state, event): target}``; a target is a state or a :class:`Row`.
        attr: the attribute of the object that holds its state (default ``"state"``).
        entry: ``{state: action}``: run on every move into that state (after the row's).
        error: builds the exception for an illegal move from its message
            (default :class:`IllegalMove`).

    Raises:
        TypeError: a key or target is not a member of the machine's state/event enums, or
            the events are states (a machine is event-triggered, not target-triggered).
    """

    def __init__(
        self,
        name: str,
        initial: S,
        table: Mapping[tuple[S, E], S | Row],
        *,
        attr: str = "state",
        entry: Mapping[S, Action] | None = None,
        error: Callable[[str], BaseException] = IllegalMove,
    ) -> None:
        states = type(initial)
        events: type[enum.Enum] | None = None
        rows: dict[tuple[S, E], Row] = {}
        for key, value in table.items():
            source, event = key
            events = events or type(event)
            if events is states:
                raise TypeError(f"{name}: row {key!r} is triggered by a state; events are their own enum")
            row = value if isinstance(value, Row) else Row(value)
            for what, member, kind in (("source", source, states), ("event", event, events),
                                       ("target", row.target, states)):
                if not isinstance(member, kind):
                    raise TypeError(f"{name}: {what} {member!r} of row {key!r} is not a {kind.__name__}")
            rows[key] = row
        for state in entry or {}:
            if not isinstance(state, states):
                raise TypeError(f"{name}: entry action for {state!r}, not a {states.__name__}")
        self.name = name
        self.initial = initial
        self.attr = attr
        #: the states' enum class
        self.states: type[S] = states
        #: the events' enum class (``None`` for a machine with no rows)
        self.events = events
        self._rows = rows
        # The lookup ``fire`` makes, keyed for speed: an enum member hashes through a Python
        # method (``hash(self._name_)``), so ``rows[(state, event)]`` costs two Python calls.
        # By the state's name then the event's (plain attributes, their str hashes cached)
        # it costs none, and no builtin call either (``id(event)`` cost ~300 instructions
        # per move under callgrind, a name ~30). Names alone would let an event of another
        # enum spelled the same through, so each entry starts with its event, which the
        # lookup compares by identity. The rest of the entry is what the move does, unpacked
        # once here: the target, the row to return, and the actions to run in rule 2's order
        # (the row's, then the target's entry action; most moves have neither, and then run
        # no loop at all).
        self._entry: dict[S, Action] = dict(entry or {})
        self._index: dict[str, dict[str, tuple[E, S, Row, tuple[Action, ...]]]] = {
            state._name_: {} for state in states}
        for (source, event), row in rows.items():
            actions = tuple(action for action in (row.action, self._entry.get(row.target))
                            if action is not None)
            self._index[source._name_][event._name_] = (event, row.target, row, actions)
        self._error = error
        self._recorders: tuple[list[Step], ...] = ()

    # -- the mapping of rows ------------------------------------------------------------------

    def __getitem__(self, key: tuple[S, E]) -> Row:
        return self._rows[key]

    def __iter__(self) -> Iterator[tuple[S, E]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def moves_from(self, state: S) -> dict[E, Row]:
        """The rows that leave ``state``, by event, in table order."""
        return {event: row for (source, event), row in self._rows.items() if source is state}

    def final_states(self) -> list[S]:
        """States no row leaves, in enum order."""
        sources = {source for source, _ in self._rows}
        return [state for state in self.states if state not in sources]

    def entry_action(self, state: S) -> Action | None:
        """The action run on every move into ``state``, if any."""
        return self._entry.get(state)

    # -- moving ----------------------------------------------------------------------------------

    def peek(self, obj: object, event: E) -> Row:
        """The row :meth:`fire` would take for ``event``; changes nothing.

        Raises:
            the machine's error (:class:`IllegalMove` by default): no row for
            ``(obj's state, event)``.
        """
        state = getattr(obj, self.attr)
        found = self._index[state._name_].get(event._name_)
        if found is None or found[0] is not event:
            raise self._illegal(obj, state, event)
        return found[2]

    def allows(self, obj: object, event: E) -> bool:
        """True if the table lists a move for ``(obj's state, event)``; changes nothing.

        For an operation that is a no-op where the table has no row (a second
        ``terminate()`` while the first is under way): say so at the call site.
        """
        found = self._index[getattr(obj, self.attr)._name_].get(event._name_)
        return found is not None and found[0] is event

    def fire(self, obj: object, event: E) -> Row:
        """Make the move the table lists for ``(obj's state, event)``; return its row.

        Commits the target into ``obj``'s state attribute, then runs the row's action and
        the target's entry action (module docstring, rule 2). On the object's own thread.

        Raises:
            the machine's error (:class:`IllegalMove` by default), before anything changed:
            the table has no such row.
        """
        attr = self.attr
        state = getattr(obj, attr)
        try:
            member, target, row, actions = self._index[state._name_][event._name_]
        except KeyError:
            raise self._illegal(obj, state, event) from None
        if member is not event:  # (another enum's event of the same name: no such row)
            raise self._illegal(obj, state, event)
        _store(obj, attr, target)  # (rule 1: a plain attribute; see _store)
        if self._recorders:
            step = Step(obj, state, event, target)
            for steps in self._recorders:
                steps.append(step)
        if actions:
            for action in actions:
                action(obj)
        return row

    def _illegal(self, obj: object, state: S, event: E) -> BaseException:
        legal = ", ".join(e.name for e in self.moves_from(state)) or "nothing (a final state)"
        return self._error(
            f"illegal {self.name} move {state.name} on {event.name} "
            f"(from {state.name} the table lists: {legal}) [{obj!r}]")

    # -- test seam -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def record(self) -> Iterator[list[Step]]:
        """Collect every move of this machine (any object, any thread) while in the block.

        For tests: ``with PIPE.record() as steps: ...`` then look for the rows a scenario
        was meant to take.
        """
        steps: list[Step] = []
        self._recorders = (*self._recorders, steps)
        try:
            yield steps
        finally:
            self._recorders = tuple(r for r in self._recorders if r is not steps)

    # A machine is one object, not a value: two machines over the same rows (the ZMTP input
    # and output flows) are still two machines, and a machine may key a dict.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Machine {self.name}: {len(self._rows)} rows over {self.states.__name__}>"


class Cell:
    """The state of one object, kept apart from it for a :class:`CellMachine` (module
    docstring, *Cells*).

    Args:
        state: the state it starts in (the machine's ``initial``).
        owner: the object whose state it is (for messages: an illegal move names it).
    """

    __slots__ = ("state", "owner")

    def __init__(self, state: Any, owner: object = None) -> None:
        self.state = state
        self.owner = owner

    def __repr__(self) -> str:
        return f"<Cell {self.state.name} of {self.owner!r}>"


class CellMachine(Machine[S, E]):
    """A :class:`Machine` that moves :class:`Cell` objects (module docstring, *Cells*): the
    same table, rules and errors; ``fire`` reads and writes ``cell.state`` directly.

    Takes :class:`Machine`'s arguments but ``attr`` (a cell's state is ``state``).
    """

    def __init__(self, name: str, initial: S, table: Mapping[tuple[S, E], S | Row],
                 *, entry: Mapping[S, Action] | None = None,
                 error: Callable[[str], BaseException] = IllegalMove) -> None:
        super().__init__(name, initial, table, attr="state", entry=entry, error=error)

    def fire(self, obj: Cell, event: E) -> Row:  # type: ignore[override]
        """:meth:`Machine.fire` for a cell: the same move, the state read and written as
        ``obj.state`` (a slot) instead of through ``getattr`` and ``object.__setattr__``."""
        state = obj.state
        try:
            member, target, row, actions = self._index[state._name_][event._name_]
        except KeyError:
            raise self._illegal(obj, state, event) from None
        if member is not event:  # (another enum's event of the same name: no such row)
            raise self._illegal(obj, state, event)
        obj.state = target  # (rule 1: the one write)
        if self._recorders:
            step = Step(obj, state, event, target)
            for steps in self._recorders:
                steps.append(step)
        if actions:
            for action in actions:
                action(obj)
        return row

    def move(self, source: S, event: E) -> Move:
        """The row ``(source, event)`` as a :class:`Move`, for a path that knows it stands
        in ``source`` (module docstring, *Known moves*).

        Raises:
            KeyError: the table lists no such row.
            ValueError: the move runs an action (the row's, or its target's entry action).
        """
        return Move(self, source, event)


class Move:
    """One row of a :class:`CellMachine`, looked up once (module docstring, *Known moves*).

    Made by :meth:`CellMachine.move`, not directly.

    Attributes:
        machine: the machine whose row it is.
        source: the state the row leaves.
        event: the event that triggers it.
        target: the state it enters.
        row: the row itself (what :meth:`fire` returns).
    """

    __slots__ = ("machine", "source", "event", "target", "row")

    def __init__(self, machine: CellMachine[Any, Any], source: Any, event: Any) -> None:
        row = machine[source, event]  # (KeyError: no such row)
        if row.action is not None or machine.entry_action(row.target) is not None:
            raise ValueError(f"{machine.name}: the move {source.name} on {event.name} runs an "
                             "action; fire it through the machine")
        self.machine = machine
        self.source = source
        self.event = event
        self.target = row.target
        self.row = row

    def fire(self, cell: Cell) -> Row:
        """``machine.fire(cell, event)``: the same move, error and recorders; committed
        directly while ``cell`` is in :attr:`source` and nobody records."""
        if cell.state is not self.source or self.machine._recorders:
            return self.machine.fire(cell, self.event)
        cell.state = self.target  # (rule 1: the one write)
        return self.row

    def __repr__(self) -> str:
        return (f"<Move {self.machine.name}: {self.source.name} on {self.event.name} "
                f"-> {self.target.name}>")


def _label(member: enum.Enum) -> str:
    return member.value if isinstance(member.value, str) else member.name


def _action_name(action: Action) -> str:
    return getattr(action, "__name__", repr(action)).lstrip("_")


def render_mermaid(machine: Machine[Any, Any]) -> str:
    """Draw ``machine`` as a Mermaid ``stateDiagram-v2``, the one renderer of the docs.

    UML's notation: an edge is labelled ``event / action``. Rows that share a source, a
    target and an action become one edge, in table order, their events joined by `` or ``
    (an event's label is its value when that is a string, else its name). ``[*] -->`` marks
    the initial state, ``--> [*]`` every final state, and a note names each state's entry
    action.
    """
    edges: dict[tuple[enum.Enum, enum.Enum, Action | None], list[str]] = {}
    for (source, event), row in machine.items():
        edges.setdefault((source, row.target, row.action), []).append(_label(event))
    lines = ["stateDiagram-v2", f"    [*] --> {machine.initial.name}"]
    for (source, target, action), events in edges.items():
        effect = f" / {_action_name(action)}" if action is not None else ""
        lines.append(f"    {source.name} --> {target.name}: {' or '.join(events)}{effect}")
    for state in machine.final_states():
        lines.append(f"    {state.name} --> [*]")
    for state in machine.states:
        entry = machine.entry_action(state)
        if entry is not None:
            lines.append(f"    note right of {state.name}: entry / {_action_name(entry)}")
    return "\n".join(lines) + "\n"
