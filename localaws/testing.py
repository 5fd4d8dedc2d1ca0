"""pytest plugin: the local AWS emulator for the test suite (``pytest_plugins = ["localaws.testing"]``).

One emulator serves the whole session on a free loopback port (so processes the tests start, such as a
Celery worker, can reach it too); every test that asks for ``aws`` starts from an empty account.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localaws.emulator import Emulator


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
