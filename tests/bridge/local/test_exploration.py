"""The exploration job handlers, called directly on this thread (no window, no engine thread): what
they return is what the panel shows, and what they write opens."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import sdstudio.bridge.local.exploration as exploration_jobs
from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import JOB_TYPES, PLANE_SET, JobKind
from sdstudio.bridge.local.context import JobContext
from sdstudio.bridge.local.exploration import ExplorationJobs, describe_fit, target_size
from sdstudio.engine.engine import Engine
from sdstudio.engine.latents import decode, encode
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import Cancelled, InputError
from sdstudio.io.images import read_parameters
from tests.exploration_helpers import animation_frames, pixels, reconstruction
from tests.tiny_models import write_vae


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    engine = Engine()
    engine.load(str(tiny_model_dir))
    return engine


@pytest.fixture
def base(tiny_model_dir) -> GenerationRequest:
    return GenerationRequest(prompt="a cat", model=str(tiny_model_dir), width=64, height=64, steps=6, sampler="Euler",
                             seed=3, cfg_scale=5.0)


class Harness:
    """The exploration handlers with what the engine thread would give them: a handle per job
    (its progress stream, its cancel) and an output folder."""

    def __init__(self, output_dir: Path) -> None:
        self.handlers = ExplorationJobs().handlers()
        self.output_dir = output_dir
        self.progress_listeners: list = []
        self.handle: JobHandle | None = None

    def cancel(self) -> None:
        self.handle.cancel()


@pytest.fixture
def jobs(qapp, tmp_path) -> Harness:
    return Harness(tmp_path / "out")


@pytest.fixture
def pair() -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), Image.new("RGB", (64, 64), (30, 90, 200))


ENCODE, BLEND = JobKind.ENCODE, JobKind.BLEND


def run(jobs: Harness, engine: Engine, job_kind: str, request: GenerationRequest | None = None, **fields):
    job_type = JOB_TYPES[JobKind(job_kind)]
    if "images" in fields:
        fields["images"] = tuple(fields["images"])
    job = job_type(request=request) if request is not None else job_type(**fields)
    handle = jobs.handle = JobHandle(job)
    for listener in jobs.progress_listeners:
        handle.progress.connect(listener)
    context = JobContext(handle, lambda: jobs.output_dir, lambda _event: None)
    return jobs.handlers[job.kind](engine, job, context)


def test_sizes_are_multiples_of_8_and_fits_are_described():
    assert target_size((64, 64)) == (64, 64)
    assert target_size((100, 70)) == (96, 64)
    assert target_size((4000, 3000)) == (1024, 768)
    assert describe_fit((64, 64), (64, 64)) == ""
    assert describe_fit((96, 80), (64, 64)) == "96x80 -> 64x64 (scaled, cropped)"
    assert describe_fit((128, 128), (64, 64)) == "128x128 -> 64x64 (scaled)"
    assert describe_fit((64, 80), (64, 64)) == "64x80 -> 64x64 (cropped)"


@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_blend_endpoints_are_the_vae_reconstructions(jobs, engine, base, pair, mode):
    encoded = run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    assert encoded.size == (64, 64) and encoded.notes == ("", "")
    for image, shown in zip(pair, encoded.reconstructions, strict=True):
        assert np.array_equal(pixels(shown), reconstruction(engine, image))
    start = run(jobs, engine, BLEND, t=0.0, mode=mode)
    end = run(jobs, engine, BLEND, t=1.0, mode=mode)
    middle = run(jobs, engine, BLEND, t=0.5, mode=mode)
    assert np.array_equal(pixels(start.image), reconstruction(engine, pair[0]))
    assert np.array_equal(pixels(end.image), reconstruction(engine, pair[1]))
    assert not np.array_equal(pixels(middle.image), pixels(start.image))


def test_cheap_blends_are_latent_sized_and_refined_ones_are_images(jobs, engine, base, pair):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    cheap = run(jobs, engine, BLEND, t=0.5, quality="cheap")
    assert (cheap.image.width(), cheap.image.height()) == (32, 32)  # the tiny VAE downsamples by 2
    full = run(jobs, engine, BLEND, t=0.5)
    refined = run(jobs, engine, BLEND, t=0.5, quality="refined", refine=replace(base, strength=0.6, width=512))
    assert refined.image.width() == 64  # the refine request takes the set's size, not the canvas's
    assert not np.array_equal(pixels(refined.image), pixels(full.image))


def test_a_b_of_another_size_is_fitted_and_the_fit_is_reported(jobs, engine, base, pair):
    other = pair[1].resize((96, 80))
    encoded = run(jobs, engine, ENCODE, images=[pair[0], other], model=base.model)
    assert encoded.notes == ("", "96x80 -> 64x64 (scaled, cropped)")
    assert np.array_equal(pixels(run(jobs, engine, BLEND, t=1.0).image), reconstruction(engine, other))


def test_blending_before_choosing_images_says_what_to_do(jobs, engine):
    with pytest.raises(InputError, match="choose the images"):
        run(jobs, engine, BLEND, t=0.5)


@pytest.mark.parametrize("count", [3, 4])
def test_plane_corners_give_the_corner_images(jobs, engine, base, count):
    corners = [Image.new("RGB", (64, 64), color) for color in [(200, 30, 30), (30, 200, 30), (30, 30, 200),
                                                                (220, 220, 40)][:count]]
    run(jobs, engine, ENCODE, key=PLANE_SET, images=corners, model=base.model)
    points = [(0, 0), (1, 0), (0.5, 1)] if count == 3 else [(0, 0), (1, 0), (0, 1), (1, 1)]
    for corner, (x, y) in zip(corners, points, strict=True):
        frame = run(jobs, engine, "explore.plane", x=x, y=y)
        assert np.array_equal(pixels(frame.image), reconstruction(engine, corner))
    centre = run(jobs, engine, "explore.plane", x=0.5, y=0.5)
    assert sum(centre.weights) == pytest.approx(1) and len(centre.weights) == count


@pytest.mark.parametrize("export_format", ["gif", "webp", "mp4", "png"])
def test_a_latent_walk_has_the_frames_asked_for_and_its_file_opens(jobs, engine, base, pair, tmp_path,
                                                                   export_format):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    target = tmp_path / ("walk" if export_format == "png" else f"walk.{export_format}")
    progress = []
    jobs.progress_listeners.append(lambda p: progress.append((p.step, p.total)))
    result = run(jobs, engine, "explore.walk", walk="latent", frames=5, path=target, format=export_format)
    assert len(result.frames) == 5 and progress == [(i, 5) for i in range(1, 6)]
    assert np.array_equal(pixels(result.frames[0]), reconstruction(engine, pair[0]))
    if export_format == "png":
        files = sorted(target.glob("*.png"))
        assert [p.name for p in files] == [f"frame_{i:03d}.png" for i in range(1, 6)]
        assert iio.imread(files[-1]).shape == (64, 64, 3)
    else:
        assert animation_frames(target) == 5
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # nothing half-written left behind


def test_a_seed_prompt_walk_starts_and_ends_on_the_two_generations(jobs, engine, base):
    start, end = replace(base, steps=3, seed=1), replace(base, steps=3, seed=2, prompt="a dog")
    result = run(jobs, engine, "explore.walk", walk="seed_prompt", frames=3, start=start, end=end)
    assert len(result.frames) == 3
    assert np.array_equal(pixels(result.frames[0]), pixels(engine.generate(start).images[0].image))
    assert np.array_equal(pixels(result.frames[-1]), pixels(engine.generate(end).images[0].image))


def test_a_refined_walk_needs_a_strength(jobs, engine, base, pair):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    with pytest.raises(InputError, match="strength"):
        run(jobs, engine, "explore.walk", walk="refined", frames=3, refine=replace(base, strength=0))


def test_cancelling_a_walk_stops_it_and_writes_nothing(jobs, engine, base, pair, tmp_path):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    seen = []

    def cancel_at_two(progress):
        seen.append(progress.step)
        if progress.step == 2:
            jobs.cancel()

    jobs.progress_listeners.append(cancel_at_two)
    with pytest.raises(Cancelled):
        run(jobs, engine, "explore.walk", walk="latent", frames=8, path=tmp_path / "walk.gif")
    assert seen == [1, 2] and not (tmp_path / "walk.gif").exists()


def test_trajectory_keeps_every_step_and_saves_the_image(jobs, engine, base, tmp_path, monkeypatch):
    monkeypatch.setattr(exploration_jobs, "FULL_PREVIEW_SECONDS", 1e9)  # decode every step fully, however busy
    result = run(jobs, engine, "explore.trajectory", base)
    assert len(result.steps) == base.steps and result.preview_quality == "full"
    assert result.path is not None and result.path.parent == tmp_path / "out"
    assert read_parameters(result.path).seed == base.seed
    plain = engine.generate(base).images[0].image
    assert np.array_equal(pixels(result.image), pixels(plain))
    step = run(jobs, engine, "explore.step", trajectory_id=result.trajectory_id, step=2)
    assert np.array_equal(pixels(step.image), pixels(result.steps[1]))


def test_branch_unchanged_reproduces_and_a_new_prompt_differs(jobs, engine, base):
    original = run(jobs, engine, "explore.trajectory", base)
    same = run(jobs, engine, "explore.branch", trajectory_id=original.trajectory_id, step=3)
    assert np.array_equal(pixels(same.image), pixels(original.image))
    assert same.parent_id == original.trajectory_id and len(same.steps) == base.steps
    changed = run(jobs, engine, "explore.branch", trajectory_id=original.trajectory_id, step=3, prompt="a red rocket")
    assert not np.array_equal(pixels(changed.image), pixels(original.image))
    assert changed.request.prompt == "a red rocket" and read_parameters(changed.path).prompt == "a red rocket"
    settings = read_parameters(changed.path).settings  # a branch says what it branched from, and where
    assert settings["Branched from"] == original.path.name and settings["Branch step"] == "3"
    reseeded = run(jobs, engine, "explore.branch", trajectory_id=changed.trajectory_id, step=2, seed=99)
    assert reseeded.request.seed == 99 and not np.array_equal(pixels(reseeded.image), pixels(changed.image))


def test_branching_a_forgotten_trajectory_says_so(jobs, engine):
    with pytest.raises(InputError, match="no longer kept"):
        run(jobs, engine, "explore.branch", trajectory_id=42, step=1)


def test_importing_the_jobs_module_does_not_import_torch():
    import sys

    code = "import sys, sdstudio.bridge.local.backend; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[3])
    assert out.stdout.strip() == "False"


def test_an_evenly_paced_walk_moves_at_a_steadier_speed(jobs, engine, base, pair):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)

    def unevenness(result) -> float:
        frames = [pixels(image).astype(np.float64) for image in result.frames]
        steps = [np.sqrt(((b - a) ** 2).mean()) for a, b in zip(frames, frames[1:], strict=False)]
        return max(steps) / np.mean(steps)

    uniform = run(jobs, engine, "explore.walk", walk="latent", frames=8, pacing="uniform")
    even = run(jobs, engine, "explore.walk", walk="latent", frames=8, pacing="even")
    assert uniform.times == tuple(i / 7 for i in range(8))
    assert even.times[0] == 0.0 and even.times[-1] == 1.0 and list(even.times) == sorted(even.times)
    assert unevenness(even) <= unevenness(uniform)
    assert np.array_equal(pixels(even.frames[-1]), reconstruction(engine, pair[1]))


def test_a_refined_walk_is_paced_with_refined_probes(jobs, engine, base, pair):
    run(jobs, engine, ENCODE, images=list(pair), model=base.model)
    refine = replace(base, strength=0.5, steps=4)
    uniform = run(jobs, engine, "explore.walk", walk="refined", frames=6, pacing="uniform", refine=refine)
    even = run(jobs, engine, "explore.walk", walk="refined", frames=6, pacing="even", refine=refine)
    assert uniform.times == tuple(i / 5 for i in range(6))
    assert len(even.frames) == 6 and even.times[0] == 0.0 and even.times[-1] == 1.0
    assert list(even.times) == sorted(even.times) and even.times != uniform.times
    # the same seed and prompt at the same t give the same frame, paced or not
    assert np.array_equal(pixels(even.frames[0]), pixels(uniform.frames[0]))


# --- a VAE override: what the explorer shows is decoded with the VAE the user chose ---


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory) -> Path:
    return write_vae(tmp_path_factory.mktemp("vae") / "ft-mse.safetensors")


def round_trip(vae, image: Image.Image) -> np.ndarray:
    return pixels(decode(vae, encode(vae, image))[0])


def test_a_set_is_encoded_and_decoded_with_the_vae_chosen(jobs, engine, base, pair, vae_file):
    swapped = run(jobs, engine, ENCODE, images=list(pair), model=base.model, vae=str(vae_file))
    override = engine.with_vae(base.model, str(vae_file)).vae
    for image, shown in zip(pair, swapped.reconstructions, strict=True):
        assert np.array_equal(pixels(shown), round_trip(override, image))
        assert np.abs(pixels(shown) - reconstruction(engine, image)).mean() > 1
    assert np.array_equal(pixels(run(jobs, engine, BLEND, t=0.0).image), round_trip(override, pair[0]))
    walk = run(jobs, engine, "explore.walk", walk="latent", frames=3, pacing="uniform")
    assert np.array_equal(pixels(walk.frames[-1]), round_trip(override, pair[1]))
    # the model's own VAE asked for: the set is encoded again with it, as without an override
    assert np.array_equal(pixels(run(jobs, engine, BLEND, t=1.0, vae="").image), reconstruction(engine, pair[1]))
    assert np.array_equal(pixels(run(jobs, engine, BLEND, t=1.0).image), reconstruction(engine, pair[1]))


def test_a_trajectory_shows_and_branches_its_steps_through_its_vae(jobs, engine, base, vae_file, monkeypatch):
    monkeypatch.setattr(exploration_jobs, "FULL_PREVIEW_SECONDS", 1e9)
    request = replace(base, vae=str(vae_file))
    result = run(jobs, engine, "explore.trajectory", request)
    x0 = engine.generate(replace(request, keep_trajectory=True)).images[0].denoised  # the same run, kept here
    override, own = engine.with_vae(base.model, str(vae_file)).vae, engine.with_vae(base.model).vae
    step = run(jobs, engine, "explore.step", trajectory_id=result.trajectory_id, step=2)
    assert np.array_equal(pixels(step.image), pixels(decode(override, x0[1])[0]))
    assert np.array_equal(pixels(result.steps[1]), pixels(step.image))
    assert np.abs(pixels(step.image) - pixels(decode(own, x0[1])[0])).mean() > 1
    last = run(jobs, engine, "explore.step", trajectory_id=result.trajectory_id, step=base.steps)
    assert np.abs(pixels(last.image) - pixels(result.image)).mean() < 1  # the last x0 is the image
    assert np.abs(pixels(decode(own, x0[-1])[0]) - pixels(result.image)).mean() > 1
    assert read_parameters(result.path).settings["VAE"] == vae_file.name
    same = run(jobs, engine, "explore.branch", trajectory_id=result.trajectory_id, step=3)
    assert np.array_equal(pixels(same.image), pixels(result.image)) and same.request.vae == str(vae_file)
    assert np.array_equal(pixels(same.steps[1]), pixels(step.image))
    assert read_parameters(same.path).settings["VAE"] == vae_file.name


def test_cheap_step_previews_do_not_depend_on_the_vae(jobs, engine, base, vae_file, monkeypatch):
    monkeypatch.setattr(exploration_jobs, "FULL_PREVIEW_SECONDS", -1.0)  # always the preview factors
    own = run(jobs, engine, "explore.trajectory", base)
    swapped = run(jobs, engine, "explore.trajectory", replace(base, vae=str(vae_file)))
    assert own.preview_quality == swapped.preview_quality == "cheap"
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(own.steps, swapped.steps, strict=True))
