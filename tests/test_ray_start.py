"""RayBackend.start against a stand-in `ray` module: what a flaky or failing head's answers become."""

import types

import pytest

from initscope.core import sweep_backends
from initscope.core.errors import UserError

SERVER_TRACE = ("Initialization failure from server:\nTraceback (most recent call last):\n  File \"proxier.py\", "
                "line 1, in Datapath\nRuntimeError: Starting Ray client server failed. See ray_client_server_23000.err")


def _fake_ray(failures: list[BaseException]):
    calls = {"init": 0, "shutdown": 0}

    def init(**_kw):
        calls["init"] += 1
        if failures:
            raise failures.pop(0)

    def shutdown():
        calls["shutdown"] += 1

    return types.SimpleNamespace(init=init, shutdown=shutdown, is_initialized=lambda: False), calls


@pytest.fixture
def backend(monkeypatch):
    monkeypatch.setattr(sweep_backends.time, "sleep", lambda s: None)
    monkeypatch.setattr("initscope.core.ray_auth.use_token", lambda *a: None)
    monkeypatch.setattr("initscope.core.ray_auth.probe_client", lambda *a: None)
    return sweep_backends.RayBackend(address="ray://head:10001")


def test_a_client_server_that_fails_to_start_once_is_tried_again(backend, monkeypatch):
    ray, calls = _fake_ray([ConnectionAbortedError(SERVER_TRACE)])
    monkeypatch.setattr(sweep_backends, "import_ray", lambda: ray)
    backend.start()
    assert calls == {"init": 2, "shutdown": 1}


def test_twice_is_one_line_with_the_servers_reason(backend, monkeypatch):
    ray, calls = _fake_ray([ConnectionAbortedError(SERVER_TRACE), ConnectionAbortedError(SERVER_TRACE)])
    monkeypatch.setattr(sweep_backends, "import_ray", lambda: ray)
    with pytest.raises(UserError) as e:
        backend.start()
    assert calls["init"] == sweep_backends.CLIENT_INIT_TRIES == 2
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cannot start or reach Ray at ray://head:10001: Initialization failure")
    assert msg.endswith("Starting Ray client server failed. See ray_client_server_23000.err")


def test_other_failures_are_not_retried(backend, monkeypatch):
    ray, calls = _fake_ray([ConnectionError("ray client connection timeout")])
    monkeypatch.setattr(sweep_backends, "import_ray", lambda: ray)
    with pytest.raises(UserError, match="connection timeout$"):
        backend.start()
    assert calls["init"] == 1
