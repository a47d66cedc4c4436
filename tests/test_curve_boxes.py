"""zreactor.zmtp.curve_boxes: CURVE MESSAGE boxes a batch per call, in place.

The fast path (PyNaCl's cffi handle on libsodium) and the fallback (the public bindings) must
write the same bytes and open each other's boxes; counters strictly increase on both sides;
a replayed, reordered, forged or malformed box is refused with libzmq's code."""

from __future__ import annotations

import pytest

nacl_bindings = pytest.importorskip("nacl.bindings")

from zreactor.zmtp.curve_boxes import (  # noqa: E402
    CLIENT_NONCE_PREFIX,
    SERVER_NONCE_PREFIX,
    MessageBoxes,
)
from zreactor.zmtp.frames import COMMAND, MORE, FrameDecoder  # noqa: E402
from zreactor.zmtp.handshake import (  # noqa: E402
    PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
    PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    HandshakeError,
)
from zreactor.zmtp.metadata import MetaBytes  # noqa: E402

#: sizes around the short/long frame boundary (a body of 222 bytes is the largest whose box
#: fits a short frame) and a large one
SIZES = [0, 1, 100, 221, 222, 223, 255, 256, 70_000]


def pair(fast_sender: bool = True, fast_receiver: bool = True
         ) -> tuple[MessageBoxes, MessageBoxes]:
    """A client's sending boxes and the server's receiving ones, with one shared key."""
    client_public, client_secret = nacl_bindings.crypto_box_keypair()
    server_public, server_secret = nacl_bindings.crypto_box_keypair()
    sender = MessageBoxes(nacl_bindings, CLIENT_NONCE_PREFIX, SERVER_NONCE_PREFIX,
                          fast=fast_sender)
    receiver = MessageBoxes(nacl_bindings, SERVER_NONCE_PREFIX, CLIENT_NONCE_PREFIX,
                            fast=fast_receiver)
    sender.key = nacl_bindings.crypto_box_beforenm(server_public, client_secret)
    receiver.key = nacl_bindings.crypto_box_beforenm(client_public, server_secret)
    assert sender.key == receiver.key
    sender.nonce = 3  # where a client's handshake leaves it (HELLO 1, INITIATE 2)
    receiver.peer_nonce = 2
    return sender, receiver


def wire_frames(data: bytes) -> list[tuple[int, bytes]]:
    return FrameDecoder().feed(data)


@pytest.mark.parametrize("fast_sender", [True, False])
@pytest.mark.parametrize("fast_receiver", [True, False])
def test_a_batch_round_trips_between_both_paths(fast_sender: bool, fast_receiver: bool) -> None:
    sender, receiver = pair(fast_sender, fast_receiver)
    messages = [[bytes([i % 251]) * size] for i, size in enumerate(SIZES)]
    messages.append([b"first", b"x" * 300, b"last"])  # multipart: MORE inside the boxes
    wire, size = sender.seal_messages(messages)
    assert size == sum(len(f) for m in messages for f in m)
    frames = wire_frames(bytes(wire))
    assert len(frames) == sum(len(m) for m in messages)
    assert all(flags in (0, 2) for flags, _ in frames)  # plain final frames, as libzmq
    items, partial, commands = receiver.open_messages(frames, [])
    assert items == messages and partial == [] and commands == 0
    assert receiver.peer_nonce == sender.nonce - 1


def test_the_fast_path_writes_the_fallback_bytes() -> None:
    fast, _ = pair()
    slow = MessageBoxes(nacl_bindings, CLIENT_NONCE_PREFIX, SERVER_NONCE_PREFIX, fast=False)
    slow.key, slow.nonce = fast.key, fast.nonce
    messages = [[b"y" * size] for size in SIZES] + [[b"a", b"b", b"c"]]
    assert fast.seal_messages(messages) == slow.seal_messages(messages)
    assert fast.seal_frame(COMMAND, b"\x04PING\x00\x00") == slow.seal_frame(
        COMMAND, b"\x04PING\x00\x00")


def test_commands_and_a_message_split_across_calls() -> None:
    sender, receiver = pair()
    wire = (sender.seal_frame(MORE, b"part 1") + sender.seal_frame(COMMAND, b"\x04PING")
            + sender.seal_frame(0, b"part 2"))
    frames = wire_frames(bytes(wire))
    items, partial, commands = receiver.open_messages(frames[:1], [])
    assert (items, partial, commands) == ([], [b"part 1"], 0)
    items, partial, commands = receiver.open_messages(frames[1:], partial)
    assert items == [(COMMAND, b"\x04PING"), [b"part 1", b"part 2"]]
    assert (partial, commands) == ([], 1)


def test_counters_strictly_increase_and_match_the_wire() -> None:
    sender, _ = pair()
    wire, _ = sender.seal_messages([[b"m"]] * 5 + [[b"a", b"b"]])
    counters = [int.from_bytes(body[8:16], "big") for _, body in wire_frames(bytes(wire))]
    assert counters == list(range(3, 10))
    assert sender.nonce == 10
    again, _ = sender.seal_messages([[b"m"]])
    assert int.from_bytes(wire_frames(bytes(again))[0][1][8:16], "big") == 10


@pytest.mark.parametrize("fast", [True, False])
def test_a_replayed_or_reordered_box_is_refused(fast: bool) -> None:
    sender, receiver = pair(fast_receiver=fast)
    frames = wire_frames(bytes(sender.seal_messages([[b"1"], [b"2"], [b"3"]])[0]))
    for bad in ([frames[0], frames[0]], [frames[1], frames[0]]):
        _, fresh = pair(fast_receiver=fast)
        fresh.key = receiver.key
        fresh.peer_nonce = 2
        with pytest.raises(HandshakeError) as info:
            fresh.open_messages(bad, [])
        assert info.value.code == PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE
    receiver.open_messages(frames[:2], [])
    with pytest.raises(HandshakeError) as info:
        receiver.open_messages(frames[1:2], [])  # replayed in a later batch
    assert info.value.code == PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE
    assert receiver.peer_nonce == 4  # the refused box moved nothing


@pytest.mark.parametrize("fast", [True, False])
def test_forged_and_malformed_boxes(fast: bool) -> None:
    sender, receiver = pair(fast_receiver=fast)
    (_, body), = wire_frames(bytes(sender.seal_messages([[b"payload"]])[0]))
    flipped = body[:-1] + bytes([body[-1] ^ 1])
    cases = [
        (flipped, PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC),
        (body[:32], PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE),
        (b"\x07MASSAGE" + body[8:], PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND),
        (b"", PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND),
    ]
    for bad, code in cases:
        with pytest.raises(HandshakeError) as info:
            receiver.open_messages([(0, bad)], [])
        assert info.value.code == code


@pytest.mark.parametrize("fast", [True, False])
def test_frames_are_built_as_the_labelled_type(fast: bool) -> None:
    sender, receiver = pair(fast_receiver=fast)
    kind = MetaBytes.kind({"User-Id": "alice"})
    receiver.frame_type = kind
    frames = wire_frames(bytes(sender.seal_messages([[b"hello"], [b"a", b"b"]])[0]))
    items, _, _ = receiver.open_messages(frames, [])
    assert items == [[b"hello"], [b"a", b"b"]]
    assert all(type(f) is kind and f.properties["User-Id"] == "alice"
               for message in items for f in message)


def test_the_key_is_never_in_the_repr() -> None:
    sender, _ = pair()
    assert sender.key.hex() not in repr(sender) and repr(sender.key) not in repr(sender)
    assert repr(sender) == "<CURVE boxes nonce=3 peer_nonce=0>"
