"""pytest fixtures shared by the integration tests: `node` is a started
single Causeway node (see cwtest.Node), stopped after the test."""
import pytest

from cwtest import Node


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path).start()
    yield n
    n.cleanup()
