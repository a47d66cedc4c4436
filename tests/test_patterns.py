"""The routing helpers of zreactor/sockets/patterns.py, with stand-in pipes."""

from __future__ import annotations

from zreactor.sockets.patterns import LoadBalancer


class _Pipe:
    """Takes messages while it has room."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.got: list[list[bytes]] = []

    def send(self, msg: list[bytes]) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.got.append(msg)
        return True


def test_one_peer_sends_until_full_then_goes_inactive() -> None:
    lb = LoadBalancer()
    pipe = _Pipe(room=2)
    lb.attach(pipe)  # type: ignore[arg-type]
    assert lb.send([b"a"]) is pipe and lb.send([b"b"]) is pipe
    assert (lb.active, lb.current) == (1, 0)
    assert lb.send([b"c"]) is None
    assert (lb.active, lb.current) == (0, 0)
    assert lb.send([b"d"]) is None
    assert pipe.got == [[b"a"], [b"b"]]
    pipe.room = 1
    lb.activated(pipe)  # type: ignore[arg-type]
    assert lb.send([b"e"]) is pipe


def test_two_peers_take_turns_and_a_full_one_is_skipped() -> None:
    lb = LoadBalancer()
    first, second = _Pipe(room=1), _Pipe(room=5)
    lb.attach(first)  # type: ignore[arg-type]
    lb.attach(second)  # type: ignore[arg-type]
    assert lb.send([b"1"]) is first
    assert lb.send([b"2"]) is second
    assert lb.send([b"3"]) is second  # first is full: skipped and deactivated
    assert lb.active == 1
    assert lb.send([b"4"]) is second  # one peer left
    assert first.got == [[b"1"]] and second.got == [[b"2"], [b"3"], [b"4"]]
