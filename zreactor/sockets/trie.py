"""Prefix subscriptions: a counting trie for SUB/XSUB and a trie of pipes for PUB/XPUB.

Theory of operation
-------------------
A subscription is a byte prefix: a message matches it when its first frame starts with those
bytes (the empty prefix matches everything). libzmq keeps subscriptions in two kinds of trie,
one node per byte of prefix, and so do we:

:class:`Trie` (libzmq's ``trie_t``, on the subscriber side)
    Each node counts how many times its prefix was subscribed. ``add`` is true when a prefix
    goes from 0 to 1 reference, ``rm`` when it goes from 1 to 0 (and false for a prefix that
    was never there). ``check(data)`` is true if any subscribed prefix starts ``data``. SUB
    filters incoming messages with it, and XSUB replays it to every new upstream pipe.

:class:`MultiTrie` (libzmq's ``mtrie_t``, on the publisher side)
    Each node holds the *set* of pipes subscribed to its prefix. A pipe that subscribes twice
    to one prefix is in the set once, so one unsubscription removes it: the subscriber counts
    its own references and only sends the last unsubscription (see :class:`Trie`). ``add`` is
    true when the first pipe subscribes to a prefix and ``rm`` reports a :class:`RmResult`;
    XPUB uses both to tell the application about new and vanished topics. ``match(data)``
    gives the pipes that should get a message.

Walking stops as soon as the data leaves the trie, so matching costs at most the length of
the longest subscription, not the length of the message. Nodes that no longer hold a
subscription are pruned on removal, so a trie's size follows the live subscriptions: a storm
of subscribe/unsubscribe pairs leaves nothing behind. libzmq stores each node's children in a
dense array indexed from the smallest byte; a ``dict`` keyed by byte value is the Python
equivalent.

A trie belongs to one socket and is only touched on that socket's thread.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Collection, Iterator

__all__ = ["MultiTrie", "RmResult", "Trie"]


class _Node:
    """A counting trie node: references to this prefix, and children by next byte."""

    __slots__ = ("refcnt", "next")

    def __init__(self) -> None:
        self.refcnt = 0
        self.next: dict[int, _Node] | None = None


def _walk(root: Any, prefix: bytes) -> tuple[Any, list[tuple[Any, int]]] | None:
    """Follow ``prefix`` from ``root``; return the node and the ``(parent, byte)`` path."""
    node = root
    path: list[tuple[Any, int]] = []
    for byte in prefix:
        children = node.next
        child = None if children is None else children.get(byte)
        if child is None:
            return None
        path.append((node, byte))
        node = child
    return node, path


def _walk_creating(root: Any, prefix: bytes) -> Any:
    """The node for ``prefix`` below ``root``, creating missing nodes of ``root``'s type."""
    node_type = type(root)
    node = root
    for byte in prefix:
        children = node.next
        if children is None:
            children = node.next = {}
        child = children.get(byte)
        if child is None:
            child = children[byte] = node_type()
        node = child
    return node


def _prune(path: list[tuple[Any, int]], redundant: Callable[[Any], bool]) -> None:
    """Remove the nodes at the end of ``path`` that hold nothing any more, deepest first."""
    for parent, byte in reversed(path):
        children = parent.next
        if not redundant(children[byte]):
            return
        del children[byte]
        if not children:
            parent.next = None


def _iter_prefixes(root: Any, holds: Callable[[Any], bool]) -> Iterator[bytes]:
    """Every prefix whose node ``holds`` a subscription, in byte order (depth first)."""
    stack: list[tuple[Any, bytes]] = [(root, b"")]
    while stack:
        node, prefix = stack.pop()
        if holds(node):
            yield prefix
        children = node.next
        if children:
            for byte in sorted(children, reverse=True):  # popped in ascending order
                stack.append((children[byte], prefix + bytes((byte,))))


class Trie:
    """Prefixes with reference counts (libzmq's ``trie_t``); see the module docstring."""

    __slots__ = ("_root", "_count")

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def add(self, prefix: bytes) -> bool:
        """Add one reference to ``prefix``; True if it was not subscribed before."""
        node = _walk_creating(self._root, prefix)
        node.refcnt += 1
        if node.refcnt == 1:
            self._count += 1
            return True
        return False

    def rm(self, prefix: bytes) -> bool:
        """Drop one reference to ``prefix``; True if that was the last one.

        False both when references remain and when ``prefix`` was never subscribed.
        """
        found = _walk(self._root, prefix)
        if found is None:
            return False
        node, path = found
        if node.refcnt == 0:
            return False
        node.refcnt -= 1
        if node.refcnt:
            return False
        self._count -= 1
        _prune(path, lambda n: n.refcnt == 0 and not n.next)
        return True

    def check(self, data: bytes) -> bool:
        """True if some subscribed prefix starts ``data``."""
        node = self._root
        if node.refcnt:
            return True
        for byte in data:
            children = node.next
            if children is None:
                return False
            node = children.get(byte)
            if node is None:
                return False
            if node.refcnt:
                return True
        return False

    def __iter__(self) -> Iterator[bytes]:
        """Each subscribed prefix once, in byte order (whatever its reference count)."""
        return _iter_prefixes(self._root, lambda n: n.refcnt > 0)

    def __len__(self) -> int:
        """The number of distinct subscribed prefixes."""
        return self._count

    def __contains__(self, prefix: object) -> bool:
        """True if exactly ``prefix`` is subscribed (not merely a shorter prefix of it)."""
        if not isinstance(prefix, (bytes, bytearray)):
            return False
        found = _walk(self._root, bytes(prefix))
        return found is not None and found[0].refcnt > 0


class RmResult(enum.Enum):
    """What :meth:`MultiTrie.rm` did (libzmq's ``rm_result``)."""

    #: the pipe was not subscribed to that prefix
    NOT_FOUND = "not found"
    #: the pipe was the prefix's last subscriber: nobody wants the topic any more
    LAST_VALUE_REMOVED = "last value removed"
    #: the pipe was removed; other pipes still want the topic
    VALUES_REMAIN = "values remain"


class _PipeNode:
    """A multi-trie node: the pipes subscribed to this prefix, and children by next byte."""

    __slots__ = ("pipes", "next")

    def __init__(self) -> None:
        self.pipes: set[Any] | None = None
        self.next: dict[int, _PipeNode] | None = None


def _pipe_node_redundant(node: _PipeNode) -> bool:
    return node.pipes is None and not node.next


class MultiTrie:
    """Prefixes mapped to the set of pipes subscribed to them (libzmq's ``mtrie_t``)."""

    __slots__ = ("_root",)

    def __init__(self) -> None:
        self._root = _PipeNode()

    def add(self, prefix: bytes, pipe: Any) -> bool:
        """Subscribe ``pipe`` to ``prefix``; True if no pipe was subscribed to it before."""
        node = _walk_creating(self._root, prefix)
        pipes = node.pipes
        if pipes is None:
            node.pipes = {pipe}
            return True
        pipes.add(pipe)
        return False

    def rm(self, prefix: bytes, pipe: Any) -> RmResult:
        """Unsubscribe ``pipe`` from ``prefix``."""
        found = _walk(self._root, prefix)
        if found is None:
            return RmResult.NOT_FOUND
        node, path = found
        pipes = node.pipes
        if pipes is None or pipe not in pipes:
            return RmResult.NOT_FOUND
        pipes.discard(pipe)
        if pipes:
            return RmResult.VALUES_REMAIN
        node.pipes = None
        _prune(path, _pipe_node_redundant)
        return RmResult.LAST_VALUE_REMOVED

    def rm_pipe(self, pipe: Any, on_removed: Callable[[bytes], None],
                call_on_uniq: bool = True) -> None:
        """Remove ``pipe`` from every prefix (it is gone), in byte order.

        Args:
            on_removed: called with each prefix the pipe was removed from...
            call_on_uniq: ...but only when no other pipe still wants it (libzmq's default;
                False reports every prefix, as ``XPUB_VERBOSER`` does).
        """
        # Pre-order walk; every node comes before its descendants in `visited`, so going
        # through it backwards prunes children before their parents are looked at.
        visited: list[tuple[_PipeNode | None, int, _PipeNode]] = []
        stack: list[tuple[_PipeNode | None, int, _PipeNode, bytes]] = [(None, -1, self._root, b"")]
        while stack:
            parent, byte, node, prefix = stack.pop()
            pipes = node.pipes
            if pipes is not None and pipe in pipes:
                pipes.discard(pipe)
                if not pipes:
                    node.pipes = None
                if not call_on_uniq or not pipes:
                    on_removed(prefix)
            children = node.next
            if children:
                for key in sorted(children, reverse=True):  # popped in ascending order
                    stack.append((node, key, children[key], prefix + bytes((key,))))
            visited.append((parent, byte, node))
        for parent, byte, node in reversed(visited):
            if parent is not None and _pipe_node_redundant(node):
                children = parent.next
                assert children is not None
                del children[byte]
                if not children:
                    parent.next = None

    def match(self, data: bytes) -> Collection[Any]:
        """The pipes subscribed to some prefix of ``data``.

        The result may be a set the trie owns: iterate it at once, do not keep or change it.
        """
        node = self._root
        found: Collection[Any] | None = node.pipes
        union: set[Any] | None = None
        for byte in data:
            children = node.next
            if children is None:
                break
            node = children.get(byte)  # type: ignore[assignment]
            if node is None:
                break
            pipes = node.pipes
            if pipes:
                if found is None:
                    found = pipes
                else:
                    # a second matching prefix: only now is a fresh set worth building
                    if union is None:
                        union = set(found)
                        found = union
                    union |= pipes
        return () if found is None else found

    def __iter__(self) -> Iterator[bytes]:
        """Each prefix some pipe is subscribed to, in byte order."""
        return _iter_prefixes(self._root, lambda n: n.pipes is not None)

    def pipes_of(self, prefix: bytes) -> frozenset[Any]:
        """The pipes subscribed to exactly ``prefix``."""
        found = _walk(self._root, prefix)
        if found is None or found[0].pipes is None:
            return frozenset()
        return frozenset(found[0].pipes)

    @property
    def empty(self) -> bool:
        """True if no pipe is subscribed to anything."""
        root = self._root
        return root.pipes is None and not root.next
