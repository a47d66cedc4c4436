"""Property tests: whatever the bytes, receive_data returns events or raises ProtocolError;
messages survive any chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.errors import ProtocolError
from zreactor.zmtp import (
    Event,
    Message,
    MessageBatch,
    State,
    ZmtpConnection,
    commands,
    encode_greeting,
)
from zreactor.zmtp.frames import LONG, MORE, encode_command_frame, encode_messages

pytestmark = pytest.mark.timeout(30)

FUZZ = settings(max_examples=200, deadline=None)

GREETING = encode_greeting()
READY_PAIR = encode_command_frame(commands.encode_ready([("Socket-Type", b"PAIR")]))
READY_SUB = encode_command_frame(commands.encode_ready([("Socket-Type", b"SUB")]))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the given (unsorted, possibly repeated) positions."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


def feed_checked(conn: ZmtpConnection, chunks: list[bytes]) -> list[Event]:
    """Feed chunks; allow only events or ProtocolError, and check failure is sticky."""
    events: list[Event] = []
    for chunk in chunks:
        try:
            events += conn.receive_data(chunk)
        except ProtocolError:
            assert conn.state is State.FAILED
            with pytest.raises(ProtocolError):
                conn.receive_data(b"\x00\x00")
            return events
    return events


# Frames that look plausible: the fuzzer then gets past the flags byte into commands,
# metadata, PING bodies and subscription messages, not just "reserved bit set".
command_names = st.sampled_from([b"READY", b"ERROR", b"PING", b"PONG", b"SUBSCRIBE",
                                 b"CANCEL", b"JOIN", b""])


@st.composite
def plausible_frame(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # command with a known or empty name and random data
        name = draw(command_names)
        body = bytes([len(name)]) + name + draw(st.binary(max_size=40))
        if draw(st.booleans()):
            body = body[:draw(st.integers(0, len(body)))]  # maybe truncate
        return encode_command_frame(body)
    if kind == 1:  # message frame, MORE or not, sometimes a subscription
        flags = draw(st.sampled_from([0, MORE]))
        body = draw(st.binary(max_size=300))
        if draw(st.booleans()):
            body = draw(st.sampled_from([b"\x00", b"\x01"])) + body
        if len(body) > 255:
            return bytes([flags | LONG]) + len(body).to_bytes(8, "big") + body
        return bytes([flags, len(body)]) + body
    if kind == 2:  # any flags byte with a short size
        return bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))]) \
            + draw(st.binary(max_size=10))
    return draw(st.binary(max_size=12))  # raw noise


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_arbitrary_bytes_after_handshake(data: bytes, cuts: list[int]) -> None:
    conn = ZmtpConnection("PAIR")
    conn.receive_data(GREETING + READY_PAIR)
    feed_checked(conn, split(data, cuts))


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_arbitrary_bytes_during_handshake(data: bytes, cuts: list[int]) -> None:
    conn = ZmtpConnection("ROUTER")
    conn.receive_data(GREETING)
    feed_checked(conn, split(data, cuts))


@FUZZ
@given(data=st.binary(min_size=0, max_size=200), prefix=st.integers(0, 12))
def test_arbitrary_bytes_as_greeting(data: bytes, prefix: int) -> None:
    # Keep a valid prefix of the greeting sometimes, so later checks get exercised too.
    conn = ZmtpConnection("PAIR")
    feed_checked(conn, [GREETING[:prefix] + data])


@FUZZ
@given(frames=st.lists(plausible_frame(), max_size=30),
       socket_type=st.sampled_from(["PAIR", "XPUB", "PUB"]),
       cuts=st.lists(st.integers(0, 5000), max_size=10))
def test_plausible_frames_never_raise_anything_but_protocol_error(
        frames: list[bytes], socket_type: str, cuts: list[int]) -> None:
    conn = ZmtpConnection(socket_type, maxmsgsize=250)
    ready = READY_PAIR if socket_type == "PAIR" else READY_SUB
    conn.receive_data(GREETING + ready)
    feed_checked(conn, split(b"".join(frames), cuts))


@FUZZ
@given(frames=st.lists(plausible_frame(), max_size=30),
       cuts=st.lists(st.integers(0, 5000), max_size=10))
def test_events_do_not_depend_on_chunking(frames: list[bytes], cuts: list[int]) -> None:
    wire = GREETING + READY_SUB + b"".join(frames)

    def run(chunks: list[bytes]) -> tuple[list[Event], bool]:
        conn = ZmtpConnection("XPUB")
        events: list[Event] = []
        try:
            for chunk in chunks:
                events += conn.receive_data(chunk)
        except ProtocolError:
            return events, True
        return events, False

    whole_events, whole_failed = run([wire])
    split_events, split_failed = run(split(wire, cuts))
    assert whole_failed == split_failed
    if not whole_failed:
        assert split_events == whole_events


messages_strategy = st.lists(
    st.lists(st.one_of(st.binary(max_size=40), st.binary(min_size=250, max_size=700)),
             min_size=1, max_size=5),
    max_size=30)


@FUZZ
@given(messages=messages_strategy, cuts=st.lists(st.integers(0, 30000), max_size=30),
       batched=st.booleans())
def test_round_trip_any_chunking(messages: list[list[bytes]], cuts: list[int],
                                 batched: bool) -> None:
    sender, receiver = ZmtpConnection("DEALER"), ZmtpConnection("ROUTER")
    receiver.receive_data(sender.data_to_send())
    sender.receive_data(receiver.data_to_send())
    [_] = receiver.receive_data(sender.data_to_send())
    if batched:
        sender.send_messages(messages)
    else:
        for message in messages:
            sender.send_message(message)
    wire = sender.data_to_send()
    received: list[Event] = []
    for chunk in split(wire, cuts):
        received += receiver.receive_data(chunk)
    assert received == [Message(m) for m in messages]


def flatten(events: list[Event]) -> list[Event]:
    """receive_batch's events in receive_data's form: one Message per message."""
    flat: list[Event] = []
    for event in events:
        if isinstance(event, MessageBatch):
            assert event.messages, "a MessageBatch is never empty"
            flat += [Message(m) for m in event.messages]
        else:
            flat.append(event)
    return flat


def run_both(socket_type: str, wire: bytes, chunks: list[bytes], maxmsgsize: int = -1
             ) -> None:
    """receive_batch over ``chunks`` reports what receive_data reports over the whole."""
    def run(method: str, pieces: list[bytes]) -> tuple[list[Event], bool, State]:
        conn = ZmtpConnection(socket_type, maxmsgsize=maxmsgsize)
        events: list[Event] = []
        try:
            for piece in pieces:
                if method == "buffered":
                    events += read_into(conn, piece)
                else:
                    events += getattr(conn, method)(piece)
        except ProtocolError:
            return events, True, conn.state
        return events, False, conn.state

    plain, plain_failed, plain_state = run("receive_data", [wire])
    for method in ("receive_batch", "buffered"):
        batched, batched_failed, batched_state = run(method, chunks)
        assert batched_failed == plain_failed, method
        assert batched_state is plain_state, method
        if not plain_failed:
            assert flatten(batched) == plain, method


def read_into(conn: ZmtpConnection, piece: bytes) -> list[Event]:
    """``piece`` as an engine delivers it: into ``get_buffer()`` when there is one (as
    ``recv_into`` would, as much as it takes), else through ``receive_batch``."""
    events: list[Event] = []
    while piece:
        view = conn.get_buffer()
        if view is None:
            return events + conn.receive_batch(piece)
        n = min(len(view), len(piece))
        view[:n] = piece[:n]
        view.release()
        piece = piece[n:]
        events += conn.buffer_updated(n)
    return events


@FUZZ
@given(frames=st.lists(plausible_frame(), max_size=30),
       socket_type=st.sampled_from(["PAIR", "XPUB"]),
       maxmsgsize=st.sampled_from([-1, 250, 0, 300]),
       cuts=st.lists(st.integers(0, 5000), max_size=10))
def test_receive_batch_reports_what_receive_data_reports(
        frames: list[bytes], socket_type: str, maxmsgsize: int, cuts: list[int]) -> None:
    ready = READY_PAIR if socket_type == "PAIR" else READY_SUB
    wire = GREETING + ready + b"".join(frames)
    run_both(socket_type, wire, split(wire, cuts), maxmsgsize)


@FUZZ
@given(messages=messages_strategy, cuts=st.lists(st.integers(0, 30000), max_size=30))
def test_send_batch_receive_batch_round_trip_any_chunking(
        messages: list[list[bytes]], cuts: list[int]) -> None:
    sender, receiver = ZmtpConnection("DEALER"), ZmtpConnection("ROUTER")
    receiver.receive_data(sender.data_to_send())
    sender.receive_data(receiver.data_to_send())
    [_] = receiver.receive_data(sender.data_to_send())
    assert sender.send_batch(messages) == sum(len(f) for m in messages for f in m)
    wire = sender.data_to_send()
    assert wire == encode_messages(messages)  # the same bytes as the checked encoder
    received: list[Event] = []
    for chunk in split(wire, cuts):
        received += receiver.receive_batch(chunk)
    assert flatten(received) == [Message(m) for m in messages]
