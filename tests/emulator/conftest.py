"""Fixtures shared by the emulator layer's tests."""

from __future__ import annotations

import threading

import pytest

from server import serve


@pytest.fixture(scope="module")
def endpoint():
    """The URL of an emulator served on a free port, one per test module."""
    server, url = serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
