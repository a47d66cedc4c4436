"""CURVE (RFC 26, CurveZMQ): authenticated encryption of a ZMTP connection, via PyNaCl.

Theory of operation
-------------------
CurveZMQ is Curve25519 key agreement plus XSalsa20-Poly1305 boxes (NaCl's ``crypto_box``),
the same primitives libzmq takes from libsodium. We take them from PyNaCl, libsodium's Python
binding, and only here: the import happens when a CURVE option is set or a CURVE connection
starts, never for NULL or PLAIN, so the core stays dependency-free. Without PyNaCl,
:func:`require_curve` raises an ``ENOTSUP`` error naming the ``zreactor[curve]`` extra and
``zreactor.has("curve")`` is False. Nothing cryptographic is written here: this module only
lays out bytes and calls ``crypto_box*``/``crypto_secretbox*``.

Keys: each side has a long-term pair (server ``S``/``s``, client ``C``/``c``) and makes a
short-term pair per connection (``S'``/``s'``, ``C'``/``c'``). The handshake, byte for byte as
libzmq 4.3.5 writes it (``curve_client_tools.hpp``, ``curve_server.cpp``)::

    HELLO     version 1.0, 72 zero bytes, C', nonce(8), Box[64 zeros](C'->S)       200 B
    WELCOME   nonce(16), Box[S' + cookie](S->C')                                   168 B
              cookie = nonce(16) + SecretBox[C' + s'](K)
    INITIATE  cookie(96), nonce(8), Box[C + vouch-nonce(16) + vouch + metadata](C'->S')
              vouch = Box[C' + S](C->S')
    READY     nonce(8), Box[metadata](S'->C')
    MESSAGE   nonce(8), Box[flags(1) + frame](C'<->S')  (flags: 1 MORE, 2 COMMAND)

The nonce prefixes are ``CurveZMQHELLO---``, ``WELCOME-``, ``COOKIE--``, ``VOUCH---``,
``CurveZMQINITIATE``, ``CurveZMQREADY---``, ``CurveZMQMESSAGEC`` (client to server) and
``CurveZMQMESSAGES``. Every short nonce comes from one counter per side starting at 1 (HELLO
1, INITIATE 2, then MESSAGEs; the server's READY 1, then MESSAGEs), so a nonce is never used
twice with one key; the 16-byte ones are random. The MESSAGE boxes of an established
connection (traffic, the hot path) live in :mod:`.curve_boxes`; this module is the handshake.

Rules it keeps, each tested:

* *Replay and reordering.* A MESSAGE (and READY/INITIATE) nonce must be greater than every
  nonce the peer used before (libzmq's ``check_validity``): a replayed or reordered box is a
  :class:`~.handshake.HandshakeError` (``INVALID_SEQUENCE``) and the connection is dropped.
* *The cookie.* The server keeps no per-client state between WELCOME and INITIATE (RFC 26):
  ``C'`` and ``s'`` leave in the cookie, sealed with a cookie key that is shared by all
  connections and rotated every :data:`COOKIE_KEY_LIFETIME` seconds (the previous key still
  opens cookies, so a handshake that straddles a rotation completes); the mechanism forgets
  both right after WELCOME and takes them back from the INITIATE's cookie.
* *Secrets.* Long-term secret keys and short-term secrets are held in slots that no repr
  shows and no log line prints.
* Every malformed command or failed box is a :class:`~.handshake.HandshakeError` with
  libzmq's code (``MALFORMED_COMMAND_*``, ``CRYPTOGRAPHIC``, ``KEY_EXCHANGE``): that
  connection is dropped, and nothing else notices.
"""

from __future__ import annotations

import enum
import errno
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..capabilities import module_available, register_capability
from ..errors import ZMQError
from . import commands
from .curve_boxes import CLIENT_NONCE_PREFIX, SERVER_NONCE_PREFIX, MessageBoxes
from .handshake import (
    PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
    PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    ClientPhase,
    HandshakeError,
    Mechanism,
    MechanismEvent,
    client_machine,
    mechanism_machine,
)

__all__ = [
    "CLIENT_TRANSITIONS",
    "COOKIE_KEY_LIFETIME",
    "SERVER_TRANSITIONS",
    "ClientPhase",
    "CurveClient",
    "CurveServer",
    "ServerPhase",
    "available",
    "curve_keypair",
    "curve_public",
    "require_curve",
]

_EXTRA_HINT = ("CURVE needs PyNaCl (libsodium): pip install 'zreactor[curve]'")


def _nacl() -> Any:
    try:
        import nacl.bindings
    except ImportError:
        return None
    return nacl.bindings


def available() -> bool:
    """True if CURVE can be used (PyNaCl imports)."""
    return _nacl() is not None


def require_curve() -> Any:
    """Return ``nacl.bindings``, or raise the error that names the extra.

    Raises:
        ZMQError: ``ENOTSUP``, PyNaCl is not installed.
    """
    bindings = _nacl()
    if bindings is None:
        raise ZMQError(errno.ENOTSUP, _EXTRA_HINT)
    return bindings


def curve_keypair() -> tuple[bytes, bytes]:
    """A new CURVE key pair ``(public, secret)``, each as 40 Z85 characters (pyzmq's form).

    Raises:
        ZMQError: ``ENOTSUP`` without the ``zreactor[curve]`` extra.
    """
    from ..utils import z85

    public, secret = require_curve().crypto_box_keypair()
    return z85.encode(public), z85.encode(secret)


def curve_public(secret_key: bytes | str) -> bytes:
    """The Z85 public key of a Z85 (or raw 32-byte) secret key.

    Raises:
        ZMQError: ``ENOTSUP`` without the extra; ``EINVAL`` for a malformed key.
    """
    from ..utils import z85

    bindings = require_curve()
    raw = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    if len(raw) == 40:
        try:
            raw = z85.decode(raw)
        except ValueError:
            raise ZMQError(errno.EINVAL, "invalid Z85 secret key") from None
    if len(raw) != 32:
        raise ZMQError(errno.EINVAL, "a CURVE secret key is 32 bytes or 40 Z85 characters")
    return z85.encode(bindings.crypto_scalarmult_base(raw))


register_capability("curve", lambda: module_available("nacl"))

# -- the mechanism ------------------------------------------------------------------------

HELLO, WELCOME, INITIATE, MESSAGE = b"HELLO", b"WELCOME", b"INITIATE", b"MESSAGE"
#: Seconds a cookie key seals cookies; the previous key still opens them for as long again.
COOKIE_KEY_LIFETIME = 60.0
_HELLO_DATA = 194  # HELLO is 200 bytes with its name
_WELCOME_DATA = 160
_INITIATE_MIN_DATA = 248  # libzmq: an INITIATE of at least 257 bytes with its name
_READY_MIN_DATA = 24


class _CookieKeys:
    """The server-wide cookie keys: current and previous, rotated by time. Thread-safe."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: tuple[bytes, bytes | None] = (os.urandom(32), None)
        self._since = clock()

    def __repr__(self) -> str:
        return "<cookie keys>"

    def current(self) -> bytes:
        """The key to seal a new cookie with."""
        return self.all()[0]

    def all(self) -> tuple[bytes, ...]:
        """The keys that may open a cookie, newest first."""
        with self._lock:
            now = self._clock()
            elapsed = now - self._since
            if elapsed >= COOKIE_KEY_LIFETIME:
                # idle for two lifetimes: the current key is past its grace period too
                previous = self._keys[0] if elapsed < 2 * COOKIE_KEY_LIFETIME else None
                self._keys = (os.urandom(32), previous)
                self._since = now
            return tuple(k for k in self._keys if k is not None)


COOKIE_KEYS = _CookieKeys()


def _open(nacl: Any, call: str, code: int, what: str, *args: bytes) -> bytes:
    try:
        return getattr(nacl, call)(*args)  # type: ignore[no-any-return]
    except Exception:  # nacl.exceptions.CryptoError, or ValueError/TypeError on bad sizes
        raise HandshakeError(f"CURVE {what}: the box does not open", code) from None


class ServerPhase(enum.Enum):
    """Phases of a CURVE server."""

    WAIT_HELLO = "waiting for HELLO"
    WAIT_INITIATE = "WELCOME sent (no per-client state)"
    ZAP_WAIT = "waiting for the ZAP handler"
    DONE = "done"
    REFUSED = "refused by ZAP"
    ERROR = "peer ERROR"


_S, _E = ServerPhase, MechanismEvent
#: the client's phases are :class:`~.handshake.ClientPhase`, shared with PLAIN
CLIENT_TRANSITIONS = client_machine("CURVE client")
SERVER_TRANSITIONS = mechanism_machine("CURVE server", ServerPhase.WAIT_HELLO, {
    (_S.WAIT_HELLO, _E.GOT_HELLO): _S.WAIT_INITIATE,
    (_S.WAIT_INITIATE, _E.ASK_ZAP): _S.ZAP_WAIT,
    (_S.WAIT_INITIATE, _E.GOT_ERROR): _S.ERROR,
    (_S.ZAP_WAIT, _E.ZAP_OK): _S.DONE,
    (_S.ZAP_WAIT, _E.ZAP_REFUSED): _S.REFUSED,
})


def _key(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"CURVE {what} must be 32 bytes (set it with the socket option)")
    return bytes(value)


class _Traffic(Mechanism):
    """What both CURVE ends do once the handshake is done: every frame is a MESSAGE box
    (:mod:`.curve_boxes`).

    A subclass sets ``self._boxes`` (a :class:`~.curve_boxes.MessageBoxes` with its own and
    the peer's nonce prefixes) and its key during its handshake.
    """

    encrypts = True
    _boxes: MessageBoxes

    def encrypt_frame(self, flags: int, body: bytes) -> bytearray:
        """Box one frame as a MESSAGE, returned as the whole wire frame."""
        return self._boxes.seal_frame(flags, body)

    def encrypt_messages(self, messages: Sequence[Sequence[bytes]]) -> tuple[bytearray, int]:
        """Box every frame of a batch into one buffer of wire frames; also return the
        messages' body bytes."""
        return self._boxes.seal_messages(messages)

    def decrypt(self, body: bytes) -> tuple[int, bytes]:
        """Open one MESSAGE (strictly increasing nonces)."""
        return self._boxes.open_frame(body)

    def label_frames(self, kind: Callable[[Any], bytes]) -> bool:
        """The boxes build every received frame as ``kind``: labelled as they open."""
        self._boxes.frame_type = kind
        return True

    def decrypt_spans(self, buffer: bytearray, spans: Sequence[tuple[int, int, int]],
                      partial: list[bytes]) -> tuple[list[Any], list[bytes], int]:
        """Open a run of MESSAGE frames where they lie and assemble their messages."""
        return self._boxes.open_spans(buffer, spans, partial)


class CurveClient(_Traffic):
    """The CURVE client: proves it knows the server's public key and its own secret key.

    Args:
        public_key, secret_key: our long-term pair (32 raw bytes each).
        server_key: the server's long-term public key.
        others: as :class:`~.handshake.Mechanism`.

    Raises:
        ValueError: a key is missing or not 32 bytes. ZMQError: PyNaCl is not installed.
    """

    __slots__ = ("_boxes", "_cookie", "_cn_public", "_cn_secret", "_cn_server", "_hello_key",
                 "_keys", "_nacl")
    name = "CURVE"
    number = 2
    MACHINE = CLIENT_TRANSITIONS

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None, *, public_key: bytes = b"",
                 secret_key: bytes = b"", server_key: bytes = b"", zap: Any = None) -> None:
        super().__init__(socket_type, identity, metadata)
        self._nacl = require_curve()
        self._keys = (_key(public_key, "public key"), _key(secret_key, "secret key"),
                      _key(server_key, "server key"))
        self._cn_public, self._cn_secret = self._nacl.crypto_box_keypair()
        self._cn_server = b""
        self._cookie = b""
        # HELLO and WELCOME are boxed between C' and S: one key for both (crypto_box is
        # beforenm + afternm; this saves the WELCOME's scalar multiplication)
        self._hello_key = b""
        self._boxes = MessageBoxes(self._nacl, CLIENT_NONCE_PREFIX, SERVER_NONCE_PREFIX)

    def start(self) -> None:
        """Queue HELLO."""
        self._move(MechanismEvent.SEND_HELLO)
        nonce = self._boxes.next_nonce()
        self._hello_key = self._nacl.crypto_box_beforenm(self._keys[2], self._cn_secret)
        box = self._nacl.crypto_box_afternm(bytes(64), b"CurveZMQHELLO---" + nonce,
                                            self._hello_key)
        self._commands.append(b"\x05HELLO\x01\x00" + bytes(72) + self._cn_public + nonce + box)

    def process_command(self, name: bytes, data: bytes) -> None:
        """WELCOME: send INITIATE; READY: done; ERROR: refused."""
        if name == WELCOME:
            self._welcome(data)
        elif name == commands.READY:
            self._ready(data)
        elif name == commands.ERROR:
            self._peer_error(data)
        else:
            raise HandshakeError(f"unexpected {name!r} command in the CURVE handshake",
                                 PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)

    def _welcome(self, data: bytes) -> None:
        self._move(MechanismEvent.GOT_WELCOME)
        if len(data) != _WELCOME_DATA:
            raise HandshakeError(f"CURVE WELCOME of {len(data) + 8} bytes, expected 168",
                                 PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME)
        nacl = self._nacl
        plain = _open(nacl, "crypto_box_open_afternm", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
                      "WELCOME (wrong server key?)", bytes(data[16:]),
                      b"WELCOME-" + bytes(data[:16]), self._hello_key)
        self._hello_key = b""
        self._cn_server, self._cookie = plain[:32], plain[32:128]
        self._boxes.key = nacl.crypto_box_beforenm(self._cn_server, self._cn_secret)
        public, secret, server = self._keys
        vouch_nonce = os.urandom(16)
        vouch = nacl.crypto_box(self._cn_public + server, b"VOUCH---" + vouch_nonce,
                                self._cn_server, secret)
        nonce = self._boxes.next_nonce()
        box = nacl.crypto_box_afternm(public + vouch_nonce + vouch + self.properties(),
                                      b"CurveZMQINITIATE" + nonce, self._boxes.key)
        self._commands.append(b"\x08INITIATE" + self._cookie + nonce + box)

    def _ready(self, data: bytes) -> None:
        self._move(MechanismEvent.GOT_READY)
        if len(data) < _READY_MIN_DATA:
            raise HandshakeError("CURVE READY is too short",
                                 PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY)
        nonce = bytes(data[:8])
        self._boxes.take_peer_nonce(nonce)
        plain = _open(self._nacl, "crypto_box_open_afternm", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
                      "READY", bytes(data[8:]), b"CurveZMQREADY---" + nonce, self._boxes.key)
        self.peer = self._accept_properties(plain, "READY")
        self._cn_secret = b""  # the precomputed key is all traffic needs
        self.complete = True


class CurveServer(_Traffic):
    """The CURVE server: proves its identity, learns the client's, asks the ZAP handler.

    Args:
        secret_key: our long-term secret key (32 raw bytes); the public key is derived.
        zap: how to ask the ZAP handler (no handler: any client with a valid vouch passes,
            as libzmq allows without ``ZAP_ENFORCE_DOMAIN``).
        cookie_keys: the cookie key source (default: the process-wide one).
        others: as :class:`~.handshake.Mechanism`.

    Raises:
        ValueError: the secret key is missing. ZMQError: PyNaCl is not installed.
    """

    __slots__ = ("_boxes", "_cookie_keys", "_hello_client", "_nacl", "_public", "_secret",
                 "client_key")
    name = "CURVE"
    number = 2
    MACHINE = SERVER_TRANSITIONS
    as_server = True

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None, *, secret_key: bytes = b"",
                 zap: Any = None, cookie_keys: _CookieKeys | None = None) -> None:
        super().__init__(socket_type, identity, metadata, zap=zap)
        self._nacl = require_curve()
        self._secret = _key(secret_key, "secret key")
        self._public = self._nacl.crypto_scalarmult_base(self._secret)
        self._cookie_keys = cookie_keys or COOKIE_KEYS
        self._boxes = MessageBoxes(self._nacl, SERVER_NONCE_PREFIX, CLIENT_NONCE_PREFIX)
        #: the client's long-term public key, once its vouch checked out
        self.client_key = b""

    def start(self) -> None:
        """The server waits for HELLO."""

    def process_command(self, name: bytes, data: bytes) -> None:
        """HELLO: answer WELCOME and forget; INITIATE: verify, then ask ZAP."""
        if name == HELLO and self.phase is ServerPhase.WAIT_HELLO:
            self._hello(data)
        elif name == INITIATE and self.phase is ServerPhase.WAIT_INITIATE:
            self._initiate(data)
        elif name == commands.ERROR:
            self._peer_error(data)
        else:
            raise HandshakeError(
                f"unexpected {name!r} command in the CURVE handshake (phase {self.phase.name})",
                PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)

    def stored_client_state(self) -> tuple[bytes, ...]:
        """What this mechanism holds about the client besides its phase (for the RFC 26
        test: empty between WELCOME and INITIATE)."""
        return tuple(v for v in (self._boxes.key, self.client_key) if v)

    def _hello(self, data: bytes) -> None:
        if len(data) != _HELLO_DATA or data[:2] != b"\x01\x00":
            raise HandshakeError(
                f"CURVE HELLO of {len(data) + 6} bytes or version {bytes(data[:2])!r}; "
                "expected 200 bytes, version 1.0", PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO)
        nacl = self._nacl
        cn_client = bytes(data[74:106])
        nonce = bytes(data[106:114])
        self._boxes.take_peer_nonce(nonce)
        # HELLO and WELCOME are boxed between C' and S: one key for both
        hello_key = nacl.crypto_box_beforenm(cn_client, self._secret)
        _open(nacl, "crypto_box_open_afternm", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
              "HELLO (the client has a wrong server key?)", bytes(data[114:194]),
              b"CurveZMQHELLO---" + nonce, hello_key)
        self._move(MechanismEvent.GOT_HELLO)
        cn_public, cn_secret = nacl.crypto_box_keypair()
        cookie_nonce = os.urandom(16)
        cookie = cookie_nonce + nacl.crypto_secretbox(
            cn_client + cn_secret, b"COOKIE--" + cookie_nonce, self._cookie_keys.current())
        welcome_nonce = os.urandom(16)
        box = nacl.crypto_box_afternm(cn_public + cookie, b"WELCOME-" + welcome_nonce,
                                      hello_key)
        self._commands.append(b"\x07WELCOME" + welcome_nonce + box)
        # RFC 26: nothing about this client is kept; C' and s' come back in the cookie

    def _initiate(self, data: bytes) -> None:
        if len(data) < _INITIATE_MIN_DATA:
            raise HandshakeError("CURVE INITIATE is too short",
                                 PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE)
        nacl = self._nacl
        cookie = bytes(data[:96])
        for key in self._cookie_keys.all():
            try:
                plain = nacl.crypto_secretbox_open(cookie[16:], b"COOKIE--" + cookie[:16], key)
                break
            except Exception:  # another key, or a forged/expired cookie
                continue
        else:
            raise HandshakeError("CURVE INITIATE carries a cookie we did not make (or an "
                                 "expired one)", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        cn_client, cn_secret = plain[:32], plain[32:64]
        nonce = bytes(data[96:104])
        self._boxes.take_peer_nonce(nonce)
        k = nacl.crypto_box_beforenm(cn_client, cn_secret)
        inner = _open(nacl, "crypto_box_open_afternm", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
                      "INITIATE", bytes(data[104:]), b"CurveZMQINITIATE" + nonce, k)
        if len(inner) < 128:
            raise HandshakeError("CURVE INITIATE box is too short",
                                 PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE)
        client_key, vouch_nonce, vouch = inner[:32], inner[32:48], inner[48:128]
        vouched = _open(nacl, "crypto_box_open", PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, "vouch",
                        vouch, b"VOUCH---" + vouch_nonce, client_key, cn_secret)
        if vouched[:32] != cn_client or vouched[32:64] != self._public:
            raise HandshakeError("CURVE vouch does not match the connection's keys",
                                 PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE)
        peer = self._accept_properties(inner[128:], "INITIATE")
        self._boxes.key = k
        self.client_key = client_key
        self.peer = peer
        self._ask_zap((client_key,))

    def process_zap_reply(self, frames: Sequence[bytes]) -> None:
        """200: send READY, done; otherwise refuse."""
        if self.phase is not ServerPhase.ZAP_WAIT:
            super().process_zap_reply(frames)
        if self._zap_verdict(frames) == 200:
            self._send_ready()

    def zap_unavailable(self) -> None:
        """No handler: a valid vouch is enough (libzmq's Stonehouse default), unless
        ZAP_ENFORCE_DOMAIN is set with a domain."""
        self._enforced()
        self._move(MechanismEvent.ZAP_OK)
        self._send_ready()

    def _ask_zap(self, credentials: Sequence[bytes]) -> None:
        zap = self._zap
        if zap is None or (zap.enforce and not zap.domain):
            # no ZAP settings, or libzmq's "enforce without a domain": no question asked
            self._move(MechanismEvent.ASK_ZAP)
            self._move(MechanismEvent.ZAP_OK)
            self._send_ready()
            return
        super()._ask_zap(credentials)

    def _send_ready(self) -> None:
        nonce = self._boxes.next_nonce()
        box = self._nacl.crypto_box_afternm(self.properties(), b"CurveZMQREADY---" + nonce,
                                            self._boxes.key)
        self._commands.append(b"\x05READY" + nonce + box)
        self.complete = True
