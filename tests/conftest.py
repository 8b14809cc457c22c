"""Shared test set-up: tests are offline; only loopback connections are allowed."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # Unix sockets (dask, multiprocessing) stay on this machine


def _guarded_connect(self: socket.socket, address: object) -> object:
    if not _is_loopback(address):
        raise RuntimeError(
            f"Test tried to reach {address!r}: tests are offline; serve fixtures from "
            "127.0.0.1 or mark the test with @pytest.mark.network."
        )
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("network") is None:
        monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's data folder or mirrors by accident."""
    monkeypatch.setenv("BRAINFEAT_DATA", str(tmp_path_factory.mktemp("brainfeat_data")))
    monkeypatch.delenv("BRAINFEAT_MIRRORS", raising=False)
    monkeypatch.delenv("BRAINFEAT_CATALOG", raising=False)
    monkeypatch.delenv("BRAINFEAT_PINS", raising=False)
