"""The bridge's tests run against a real local backend (see tests/conftest.py)."""

import pytest


@pytest.fixture
def backend(local_engine_backend):
    return local_engine_backend
