import asyncio
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny SD 1.x model saved as a diffusers folder, the way users' folders look."""
    from tests.tiny_models import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_inpainting_dir(tmp_path_factory):
    from tests.tiny_models import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd-inpainting", inpainting=True)


@pytest.fixture(scope="session")
def shared_engine(tiny_model_dir):
    """One engine on the tiny model for the session (loading is the slow part); only one engine
    thread uses it at a time."""
    from sdstudio.engine.engine import Engine

    engine = Engine()
    engine.load(str(tiny_model_dir))
    return engine


@pytest.fixture
def event_loop(qapp):
    """A qasync loop on pytest-qt's QApplication, marked as the running asyncio loop, so coroutines
    and handles run whenever Qt processes events (e.g. while qtbot waits on a signal), as in the app.

    Not `already_running=True`: its teardown needs loop.stop(), which calls QApplication.exit()
    and would make every later QEventLoop (every qtbot wait) return at once."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    qapp.processEvents()
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def network_folders(tmp_path, monkeypatch):
    """lora/, embedding/ and vae/ folders that discovery searches, and nothing else."""
    from sdstudio.engine import discovery

    monkeypatch.setattr(discovery, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.delenv("SDSTUDIO_MODEL_DIRS", raising=False)
    made = {}
    for kind, variable in discovery.NETWORK_DIRS_VARIABLES.items():
        made[kind] = tmp_path / kind
        made[kind].mkdir()
        monkeypatch.setenv(variable, str(made[kind]))
    return made


@pytest.fixture
def output_dir(tmp_path):
    return tmp_path / "outputs"


@pytest.fixture
def local_engine_backend(qtbot, shared_engine, output_dir):
    """A real local backend (its engine thread) over the session's tiny-model engine; always closed."""
    from sdstudio.bridge.local.backend import LocalBackend

    backend = LocalBackend(output_dir=lambda: output_dir, engine_factory=lambda: shared_engine)
    yield backend
    assert backend.close(60.0), "the engine thread did not stop"
    assert not backend.running


@pytest.fixture
def base_request(tiny_model_dir):
    from sdstudio.engine.requests import GenerationRequest

    return GenerationRequest(prompt="a cat", model=str(tiny_model_dir), width=64, height=64, steps=4, sampler="Euler",
                             seed=3, cfg_scale=5.0)
