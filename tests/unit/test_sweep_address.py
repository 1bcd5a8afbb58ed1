"""``zerobeta sweep --address``: an address where nothing listens is refused at once (Ray
itself would retry it for many minutes), against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from agent.errors import ConfigError
from agent.research.ray_runner import check_reachable


def test_an_address_where_nothing_listens_is_refused_naming_the_option() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        check_reachable(f"127.0.0.1:{port}", timeout_s=2.0)
    assert caught.value.errors[0][0] == "--address"
    assert f"127.0.0.1:{port}" in caught.value.errors[0][1]


def test_an_address_that_accepts_connections_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "local"])
def test_other_address_forms_are_left_to_ray(address: str) -> None:
    check_reachable(address)  # no connection attempted: "ray://..." and "auto" are Ray's
