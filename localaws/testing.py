"""pytest plugin: the local AWS emulator for the test suite (``pytest_plugins = ["localaws.testing"]``).

One emulator serves the whole session on a free loopback port (so processes the tests start, such as a
Celery worker, can reach it too); every test that asks for ``aws`` starts from an empty account.
``fake_graph`` is a local Microsoft Graph and Entra ID token endpoint of its own for each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localaws.emulator import Emulator
from localaws.graph import FakeGraph


@pytest.fixture(scope="session")
def aws_emulator() -> Iterator[Emulator]:
    """The session's emulator: ``.endpoint_url``, ``.store``, ``.throttle``, ``.reset()``,
    ``.enable_auth()`` and ``.disable_auth()``."""
    emulator = Emulator(host="127.0.0.1", port=0).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws(aws_emulator: Emulator, settings) -> Iterator[Emulator]:
    """The emulator, reset for this test (empty moto, no events, authentication off, AWS's throttle)
    and set as ``settings.AWS_ENDPOINT_URL`` so every client the product builds talks to it."""
    aws_emulator.reset()
    settings.AWS_ENDPOINT_URL = aws_emulator.endpoint_url
    try:
        yield aws_emulator
    finally:
        # Authentication is process-wide in moto: never let one test's switch leak into the next.
        aws_emulator.disable_auth()


@pytest.fixture
def fake_graph() -> Iterator[FakeGraph]:
    """A fake Microsoft Graph with a fresh tenant, for this test: ``.base_url`` (Graph),
    ``.login_url`` (token endpoint), ``.tenant_id``, ``.client_id``, ``.client_secret``, ``.users``,
    ``.requests``, ``.add_user(...)``, ``.delete_user(id)``, ``.fail_next(status, retry_after=...)``.
    Each test gets new tenant and client IDs, so tokens cached by the product never carry over."""
    graph = FakeGraph().start()
    try:
        yield graph
    finally:
        graph.stop()
