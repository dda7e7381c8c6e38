"""Fixtures shared by the end-to-end tests (helpers in tandem_server.py)."""

import pytest

from tandem_server import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve")) as running:
        yield running
