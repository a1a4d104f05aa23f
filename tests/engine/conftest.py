import pytest

from sdstudio.engine.engine import Engine
from tests.tiny_models import loaded_model, tiny_sd_pipeline, tiny_sdxl_pipeline


@pytest.fixture(scope="session")
def sd_pipe():
    return tiny_sd_pipeline(seed=0)


@pytest.fixture(scope="session")
def inpainting_pipe():
    return tiny_sd_pipeline(seed=0, inpainting=True)


@pytest.fixture(scope="session")
def sdxl_pipe():
    return tiny_sdxl_pipeline(seed=0)


@pytest.fixture
def sd_engine(sd_pipe):
    engine = Engine()
    engine.use(loaded_model(sd_pipe))
    return engine


@pytest.fixture
def sdxl_engine(sdxl_pipe):
    engine = Engine()
    engine.use(loaded_model(sdxl_pipe, name="tiny-xl", family="sdxl"))
    return engine


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """LoRA and embedding folders of the test's own (tests/engine/network_files.py)."""
    from tests.engine.network_files import use_folders

    return use_folders(tmp_path, monkeypatch)


@pytest.fixture
def engine():
    """An engine on a fresh tiny SD1 model (LoRA adapters and embeddings change the modules they are
    loaded into, so these tests do not share one)."""
    fresh = Engine()
    fresh.use(loaded_model(tiny_sd_pipeline(seed=0)))
    return fresh
