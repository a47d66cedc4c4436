"""The ZMTP 3.1 codec: sans-I/O greeting, framing, commands, security mechanisms, connection.

Theory of operation
-------------------
Bytes in, events out; calls in, bytes out. Nothing in this package touches a socket, a thread
or a clock, so an engine on any I/O thread can own a :class:`ZmtpConnection`, and the tests can
drive it from memory, from a fuzzer, or over a raw TCP socket to real libzmq.

The modules, bottom-up:

* :mod:`.greeting` - the 64-byte greeting and early version detection;
* :mod:`.frames` - the flags byte, short/long sizes, the incremental decoder, batch encoding;
* :mod:`.commands` - READY metadata, ERROR, SUBSCRIBE/CANCEL, PING/PONG bodies;
* :mod:`.handshake` - the one mechanism interface, libzmq's protocol error codes, properties;
* :mod:`.mechanisms` - NULL and the greeting's mechanism check; :mod:`.plain` (RFC 24) and
  :mod:`.curve` (RFC 26, PyNaCl imported only there); :mod:`.zap` - ZAP requests and
  replies (RFC 27) on the wire; :mod:`.security` - a connection's settings and the factory
  that picks its mechanism; :mod:`.metadata` - the properties carried by received frames;
* :mod:`.state` - the connection's states and the table of legal transitions;
* :mod:`.events` - what ``receive_data`` and ``receive_batch`` return;
* :mod:`.connection` - :class:`ZmtpConnection`, which ties them together.

Beside the codec, two engines carry a session's pipe over a stream: :mod:`.engine`
(``ZmtpEngine``, driving the codec) and :mod:`.raw_engine` (``RawEngine``: a STREAM socket's
raw bytes, no ZMTP at all, behind the same session contract).
"""

from __future__ import annotations

from .commands import PING_CONTEXT_MAX, PING_TTL_MAX
from .connection import ZmtpConnection
from .events import (
    Cancel,
    Event,
    HandshakeComplete,
    Message,
    MessageBatch,
    PeerError,
    Ping,
    Pong,
    Subscribe,
)
from .frames import Frame, FrameDecoder, FramingError, encode_messages
from .greeting import GREETING_SIZE, Greeting, GreetingParser, encode_greeting
from .mechanisms import COMPATIBLE_PEERS, IDENTITY_SENDERS, SOCKET_TYPES
from .state import TRANSITIONS, LocalProtocolError, State, Trigger, render_mermaid

__all__ = [
    "COMPATIBLE_PEERS",
    "GREETING_SIZE",
    "IDENTITY_SENDERS",
    "PING_CONTEXT_MAX",
    "PING_TTL_MAX",
    "SOCKET_TYPES",
    "TRANSITIONS",
    "Cancel",
    "Event",
    "Frame",
    "FrameDecoder",
    "FramingError",
    "Greeting",
    "GreetingParser",
    "HandshakeComplete",
    "LocalProtocolError",
    "Message",
    "MessageBatch",
    "PeerError",
    "Ping",
    "Pong",
    "State",
    "Subscribe",
    "Trigger",
    "ZmtpConnection",
    "encode_greeting",
    "encode_messages",
    "render_mermaid",
]
