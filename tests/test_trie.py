"""Tests for zreactor.sockets.trie: libzmq's trie_t and mtrie_t semantics.

The hypothesis tests run random sequences of operations against a plain-dict model of what
the tries promise, and check after every step that the answers agree and that no empty node
is left behind.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.sockets.trie import MultiTrie, RmResult, Trie

pytestmark = pytest.mark.timeout(60)


def node_count(trie: Trie | MultiTrie) -> int:
    """Nodes reachable from the root, the root included (to catch missed pruning)."""
    count, stack = 0, [trie._root]
    while stack:
        node = stack.pop()
        count += 1
        if node.next:
            assert node.next, "an empty child table must be None"
            stack.extend(node.next.values())
    return count


def minimal_nodes(prefixes: set[bytes]) -> int:
    """How many nodes a pruned trie holding ``prefixes`` has: one per distinct prefix of them."""
    return len({p[:i] for p in prefixes for i in range(len(p) + 1)} | {b""})


# -- Trie (subscriber side) ------------------------------------------------------------------


def test_trie_counts_references() -> None:
    trie = Trie()
    assert trie.add(b"abc") is True
    assert trie.add(b"abc") is False  # second reference
    assert trie.rm(b"abc") is False  # one reference remains
    assert trie.check(b"abcdef")
    assert trie.rm(b"abc") is True  # the last one
    assert not trie.check(b"abcdef")
    assert trie.rm(b"abc") is False  # never there any more
    assert node_count(trie) == 1


def test_trie_prefix_matching() -> None:
    trie = Trie()
    trie.add(b"ab")
    assert trie.check(b"ab") and trie.check(b"abc")
    assert not trie.check(b"a") and not trie.check(b"b") and not trie.check(b"")
    trie.add(b"")
    assert trie.check(b"") and trie.check(b"zzz")  # the empty prefix matches everything


def test_trie_rm_of_an_inner_node_keeps_longer_prefixes() -> None:
    trie = Trie()
    trie.add(b"a")
    trie.add(b"abc")
    assert trie.rm(b"ab") is False  # a node on the path, but never subscribed
    assert trie.rm(b"a") is True
    assert not trie.check(b"ab") and trie.check(b"abcd")
    assert list(trie) == [b"abc"]


def test_trie_iterates_each_topic_once_in_byte_order() -> None:
    trie = Trie()
    for topic in (b"b", b"a", b"ab", b"", b"a", b"\xff", b"\x00"):
        trie.add(topic)
    assert list(trie) == [b"", b"\x00", b"a", b"ab", b"b", b"\xff"]
    assert len(trie) == 6
    assert b"ab" in trie and b"abc" not in trie and "a" not in trie


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=4)), max_size=60),
       st.lists(st.binary(max_size=6), max_size=10))
def test_trie_agrees_with_a_counting_model(ops: list[tuple[bool, bytes]], probes: list[bytes]) -> None:
    trie, model = Trie(), Counter[bytes]()
    for add, topic in ops:
        if add:
            assert trie.add(topic) == (model[topic] == 0)
            model[topic] += 1
        else:
            assert trie.rm(topic) == (model[topic] == 1)
            if model[topic]:
                model[topic] -= 1
        live = {t for t, n in model.items() if n}
        assert list(trie) == sorted(live)
        assert node_count(trie) == minimal_nodes(live)
        for data in probes + [t + b"x" for t in live]:
            assert trie.check(data) == any(data.startswith(t) for t in live)


# -- MultiTrie (publisher side) ------------------------------------------------------------------


def test_mtrie_add_reports_the_first_subscriber() -> None:
    mtrie = MultiTrie()
    assert mtrie.add(b"a", "p1") is True
    assert mtrie.add(b"a", "p2") is False
    assert mtrie.add(b"a", "p1") is False  # a set: the same pipe twice is once
    assert mtrie.pipes_of(b"a") == {"p1", "p2"}


def test_mtrie_rm_results() -> None:
    mtrie = MultiTrie()
    mtrie.add(b"a", "p1")
    mtrie.add(b"a", "p2")
    assert mtrie.rm(b"a", "p3") is RmResult.NOT_FOUND
    assert mtrie.rm(b"zz", "p1") is RmResult.NOT_FOUND
    assert mtrie.rm(b"a", "p1") is RmResult.VALUES_REMAIN
    assert mtrie.rm(b"a", "p1") is RmResult.NOT_FOUND
    assert mtrie.rm(b"a", "p2") is RmResult.LAST_VALUE_REMOVED
    assert mtrie.empty and node_count(mtrie) == 1


def test_mtrie_match_unions_every_matching_prefix() -> None:
    mtrie = MultiTrie()
    mtrie.add(b"", "all")
    mtrie.add(b"ab", "ab")
    mtrie.add(b"abc", "abc")
    mtrie.add(b"abc", "all")
    mtrie.add(b"b", "b")
    assert set(mtrie.match(b"abcd")) == {"all", "ab", "abc"}
    assert set(mtrie.match(b"a")) == {"all"}
    assert set(mtrie.match(b"b")) == {"all", "b"}
    only = MultiTrie()
    only.add(b"x", "p")
    assert list(only.match(b"y")) == [] and list(only.match(b"xy")) == ["p"]


def test_mtrie_rm_pipe_reports_topics_nobody_wants_any_more() -> None:
    mtrie = MultiTrie()
    for topic in (b"b", b"a", b"ab", b""):
        mtrie.add(topic, "gone")
    mtrie.add(b"a", "stays")
    reported: list[bytes] = []
    mtrie.rm_pipe("gone", reported.append)
    assert reported == [b"", b"ab", b"b"]  # byte order; b"a" still has a subscriber
    assert list(mtrie) == [b"a"] and node_count(mtrie) == 2

    everything: list[bytes] = []
    mtrie.add(b"q", "gone")
    mtrie.rm_pipe("stays", everything.append, call_on_uniq=False)
    assert everything == [b"a"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "rm", "rm_pipe"]), st.binary(max_size=3),
                          st.sampled_from("pqr")), max_size=60),
       st.lists(st.binary(max_size=5), max_size=8))
def test_mtrie_agrees_with_a_set_model(ops: list[tuple[str, bytes, str]], probes: list[bytes]) -> None:
    mtrie, model = MultiTrie(), dict[bytes, set[str]]()
    for op, topic, pipe in ops:
        if op == "add":
            assert mtrie.add(topic, pipe) == (not model.get(topic))
            model.setdefault(topic, set()).add(pipe)
        elif op == "rm":
            pipes = model.get(topic, set())
            expected = (RmResult.NOT_FOUND if pipe not in pipes
                        else RmResult.LAST_VALUE_REMOVED if pipes == {pipe} else RmResult.VALUES_REMAIN)
            assert mtrie.rm(topic, pipe) is expected
            pipes.discard(pipe)
        else:
            gone: list[bytes] = []
            mtrie.rm_pipe(pipe, gone.append)
            assert gone == sorted(t for t, ps in model.items() if ps == {pipe})
            for ps in model.values():
                ps.discard(pipe)
        model = {t: ps for t, ps in model.items() if ps}
        assert list(mtrie) == sorted(model)
        assert node_count(mtrie) == minimal_nodes(set(model))
        for data in probes + [t + b"!" for t in model]:
            want = set().union(*(ps for t, ps in model.items() if data.startswith(t)))
            assert set(mtrie.match(data)) == want


def test_long_topics_do_not_recurse() -> None:
    """Topics far longer than Python's recursion limit are fine everywhere."""
    topic = bytes(range(256)) * 20
    trie, mtrie = Trie(), MultiTrie()
    trie.add(topic)
    mtrie.add(topic, "p")
    assert trie.check(topic + b"more") and list(trie) == [topic]
    assert list(mtrie.match(topic)) == ["p"]
    gone: list[bytes] = []
    mtrie.rm_pipe("p", gone.append)
    assert gone == [topic] and node_count(mtrie) == 1
    assert trie.rm(topic) and node_count(trie) == 1
