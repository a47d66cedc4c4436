"""zreactor's listener options on messaging sockets, and reaching a bound endpoint's listener."""

from __future__ import annotations

import errno

import pytest

import zreactor as zmq
from zreactor import ListenerState, ShedPolicy

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def router():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    yield sock
    sock.close(linger=0)
    ctx.term()


def test_defaults_are_the_listeners(router) -> None:
    assert router.getsockopt(zmq.ACCEPT_GRACE) == 1000  # ms, like every time option
    assert router.shed_policy == zmq.SHED_RESET
    assert router.max_connections == -1  # the default budget from RLIMIT_NOFILE
    router.bind("tcp://127.0.0.1:*")
    listener = router.listener()
    assert listener.accept_grace == 1.0 and listener.shed_policy is ShedPolicy.RESET


def test_options_apply_to_later_binds_as_backlog_does(router) -> None:
    router.bind("tcp://127.0.0.1:*")
    first = router.last_endpoint.decode()
    router.accept_grace = 250
    router.setsockopt(zmq.SHED_POLICY, zmq.SHED_REOPEN)
    router.max_connections = 40
    router.bind("tcp://127.0.0.1:*")
    second = router.listener()  # the last bound endpoint
    assert (second.accept_grace, second.shed_policy, second.max_connections) == (
        0.25, ShedPolicy.REOPEN, 40)
    old = router.listener(first)
    assert old is not second and old.accept_grace == 1.0 and old.shed_policy is ShedPolicy.RESET
    router.shed_policy = zmq.SHED_NONE
    router.bind("ipc://@zreactor-listener-options-test")
    assert router.listener("ipc://@zreactor-listener-options-test").shed_policy is ShedPolicy.NONE


def test_the_listener_is_reachable_with_its_state_stats_and_failure_wait(router) -> None:
    router.bind("tcp://127.0.0.1:*")
    endpoint = router.last_endpoint.decode()
    listener = router.listener(endpoint.replace("127.0.0.1", "localhost"))  # any spelling
    assert listener is router.listener()
    assert listener.wait_state(ListenerState.ACTIVE, timeout=5)
    assert listener.listener_state is ListenerState.ACTIVE
    stats = listener.stats()
    assert stats.state is ListenerState.ACTIVE and stats.accepted == 0
    assert listener.wait_failed(timeout=0.01) is False
    listener.restart()  # outside FAILED: no effect
    assert listener.wait_state(ListenerState.ACTIVE, timeout=5)


def test_no_listener_for_an_endpoint_not_bound_here(router) -> None:
    with pytest.raises(zmq.ZMQError) as info:
        router.listener()
    assert info.value.errno == errno.ENOENT
    router.connect("tcp://127.0.0.1:1")
    with pytest.raises(zmq.ZMQError):
        router.listener("tcp://127.0.0.1:1")  # a connect has no listener


@pytest.mark.parametrize(("name", "value", "message"), [
    ("accept_grace", -1, "ACCEPT_GRACE must be >= 0"),
    ("shed_policy", 3, "SHED_POLICY must be <= 2"),
    ("max_connections", -2, "MAX_CONNECTIONS must be >= -1"),
])
def test_out_of_range_values_are_einval_naming_the_option(router, name, value, message) -> None:
    with pytest.raises(zmq.ZMQError, match=message) as info:
        setattr(router, name, value)
    assert info.value.errno == zmq.EINVAL


def test_wrong_types_are_type_errors(router) -> None:
    with pytest.raises(TypeError, match="ACCEPT_GRACE"):
        router.accept_grace = 0.5  # milliseconds are ints, as for LINGER
    with pytest.raises(TypeError, match="SHED_POLICY"):
        router.shed_policy = "reset"
