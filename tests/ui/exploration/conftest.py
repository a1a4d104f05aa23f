"""The exploration tabs submit to a real local backend over the tiny random model (tests/conftest.py)."""

import pytest


@pytest.fixture
def worker(local_engine_backend):
    """The backend the tabs submit to (named for what it stands for: the engine thread)."""
    return local_engine_backend


@pytest.fixture
def request_provider(base_request):
    return lambda: base_request
