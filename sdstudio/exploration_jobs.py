"""Engine-thread jobs of the latent exploration tools: blends, plane points, walks, trajectories.

The exploration widgets submit these job kinds to the `EngineWorker`; the handlers below run on
the engine thread and keep every tensor there (encoded image sets, kept trajectories), so only
small frozen results with `QImage`s cross to the GUI. This module imports torch and the engine
only inside the handlers: the UI imports it for the kind names and result types and stays light.

Register before the worker starts: `register_exploration_jobs(worker, output_dir)`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtGui import QImage

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import Cancelled, InputError
from sdstudio.qimage import pil_to_qimage, qimage_to_pil
from sdstudio.worker import EngineWorker, Job

ENCODE = "explore.encode"  # images -> cached latents of a named set; returns EncodedSet
BLEND = "explore.blend"  # a point between A and B of a set; returns BlendFrame
PLANE = "explore.plane"  # a point on the pad of 3-4 corner latents; returns PlaneFrame
WALK = "explore.walk"  # N frames of a walk, written to a file or folder; returns WalkResult
TRAJECTORY = "explore.trajectory"  # a generation with its trajectory kept; returns TrajectoryResult
STEP = "explore.step"  # the full decode of one kept x0 estimate; returns StepFrame
BRANCH = "explore.branch"  # resume a kept trajectory after step k; returns TrajectoryResult

INTERPOLATION_SET = "interpolate"
PLANE_SET = "plane"
QUALITIES = ("cheap", "full", "refined")
WALK_KINDS = ("latent", "refined", "seed_prompt")
EXPORT_FORMATS = ("gif", "webp", "mp4", "png")
MAX_SIDE = 1024  # a photo dropped on the slider is scaled down to this: encode/decode time grows with area
FULL_PREVIEW_SECONDS = 0.05  # a trajectory decodes every step fully when one decode is this fast


# --- results (engine thread -> GUI thread) -------------------------------------------------------


@dataclass(frozen=True)
class EncodedSet:
    """A set of images encoded for blending, and what was done to fit them to one size."""

    job_id: int
    key: str
    size: tuple[int, int]
    notes: tuple[str, ...]  # per image: "" when it fitted, else e.g. "96x80 -> 64x64 (scaled, cropped)"
    reconstructions: tuple[QImage, ...]  # VAE decode of each latent: what t=0 / a corner shows
    decode_seconds: float  # one full VAE decode: the UI decodes fully while dragging if this is fast
    elapsed: float


@dataclass(frozen=True)
class BlendFrame:
    job_id: int
    key: str
    t: float
    mode: str
    quality: str  # cheap | full | refined
    image: QImage
    elapsed: float


@dataclass(frozen=True)
class PlaneFrame:
    job_id: int
    key: str
    x: float
    y: float
    weights: tuple[float, ...]
    quality: str
    image: QImage
    elapsed: float


@dataclass(frozen=True)
class WalkResult:
    job_id: int
    kind: str
    frames: tuple[QImage, ...]
    path: Path | None  # the animation file or PNG folder written, None if not exported
    written: tuple[Path, ...]  # every file written (one animation, or the PNG frames)
    elapsed: float
    times: tuple[float, ...] = ()  # the t of each frame of a latent walk (evenly paced ones are not uniform)


@dataclass(frozen=True)
class TrajectoryResult:
    """A generation (or a branch of one) whose per-step latents stay on the engine thread."""

    job_id: int
    trajectory_id: int
    parent_id: int | None  # the trajectory this one branched from
    branch_step: int  # the step it branched after (0 for a fresh generation)
    steps: tuple[QImage, ...]  # the x0 estimate after each step (index 0 = step 1)
    preview_quality: str  # cheap (latent-sized) or full
    image: QImage  # the final image
    path: Path | None  # where it was saved
    request: GenerationRequest
    model_name: str
    elapsed: float


@dataclass(frozen=True)
class StepFrame:
    job_id: int
    trajectory_id: int
    step: int
    image: QImage
    elapsed: float


# --- helpers usable from either thread (no torch) ------------------------------------------------


def target_size(size: tuple[int, int], max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The size a set is encoded at: the first image's, scaled down to `max_side`, sides rounded
    down to multiples of 8 (the VAE downsamples by 8)."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    width, height = round(width * scale), round(height * scale)
    return max(8, width - width % 8), max(8, height - height % 8)


def describe_fit(original: tuple[int, int], size: tuple[int, int]) -> str:
    """What fitting `original` to `size` did (scale to cover, centre-crop), so it is never silent."""
    if tuple(original) == tuple(size):
        return ""
    (ow, oh), (width, height) = original, size
    actions = []
    if max(width / ow, height / oh) != 1.0:
        actions.append("scaled")
    if ow * height != oh * width:
        actions.append("cropped")
    return f"{ow}x{oh} -> {width}x{height} ({', '.join(actions)})"


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, QImage):
        if image.isNull():
            raise InputError("an empty image cannot be explored")
        return qimage_to_pil(image)
    from sdstudio.io.images import load_image

    return load_image(image).convert("RGB")


# --- engine-thread state and handlers -----------------------------------------------------------


@dataclass
class _ImageSet:
    images: list[Image.Image]  # fitted to `size`
    size: tuple[int, int]
    model: str
    latents: list = field(default_factory=list)
    loaded: object = None  # the LoadedModel the latents belong to


class ExplorationJobs:
    """The engine-thread side of the exploration panel. Only the handlers touch its state, and they
    all run on the worker's one engine thread, so it needs no locks."""

    def __init__(self, worker: EngineWorker, output_dir: Callable[[], Path] | None = None,
                 keep_trajectories: int = 8) -> None:
        self._worker = worker
        self._output_dir = output_dir
        self._cache = None  # a LatentCache, made on the engine thread (importing torch is slow)
        self._sets: dict[str, _ImageSet] = {}
        self._trajectories: OrderedDict[int, Any] = OrderedDict()  # id -> GeneratedImage
        self._keep = keep_trajectories
        self._next_trajectory = 1

    def register(self) -> None:
        for kind, handler in ((ENCODE, self.encode), (BLEND, self.blend), (PLANE, self.plane), (WALK, self.walk),
                              (TRAJECTORY, self.trajectory), (STEP, self.step), (BRANCH, self.branch)):
            self._worker.register(kind, handler)

    # --- latents ---

    def _latents(self, engine, key: str, model: str | None = None) -> tuple[_ImageSet, list]:
        """The set's latents under the current model (re-encoded, through the cache, if it changed)."""
        image_set = self._sets.get(key)
        if image_set is None:
            raise InputError("choose the images to blend first")
        model = image_set.model if model is None else model
        loaded = engine.load(model)
        if loaded is not image_set.loaded:
            if self._cache is None:
                from sdstudio.engine.exploration import LatentCache

                self._cache = LatentCache()
            image_set.latents = [self._cache.latent(engine, image, image_set.size, model) for image in image_set.images]
            image_set.loaded, image_set.model = loaded, model
        return image_set, image_set.latents

    def _render(self, engine, latent, quality: str, image_set: _ImageSet, refine: GenerationRequest | None):
        from sdstudio.engine import exploration

        if quality == "cheap":
            return exploration.cheap_decode(engine, latent)
        if quality == "refined" and refine is not None and refine.strength > 0:
            return exploration.refine(engine, latent, self._refine_request(refine, image_set))
        return exploration.full_decode(engine, latent)

    @staticmethod
    def _refine_request(request: GenerationRequest, image_set: _ImageSet) -> GenerationRequest:
        width, height = image_set.size
        return replace(request, width=width, height=height, model=image_set.model, batch_count=1)

    # --- handlers ---

    def encode(self, engine, job: Job) -> EncodedSet:
        """payload: key, images (QImage | PIL | path, in order), model="", size=None."""
        from sdstudio.engine.exploration import full_decode
        from sdstudio.engine.interpolation import fit_image

        started = time.perf_counter()
        payload = job.payload
        key, model = payload.get("key", INTERPOLATION_SET), payload.get("model", "")
        images = [_as_pil(image) for image in payload["images"]]
        if not images:
            raise InputError("choose at least one image")
        size = tuple(payload.get("size") or target_size(images[0].size))
        image_set = _ImageSet([fit_image(image, size) for image in images], size, model)
        self._sets[key] = image_set
        _, latents = self._latents(engine, key)
        decode_started = time.perf_counter()
        reconstructions = tuple(pil_to_qimage(full_decode(engine, latent)) for latent in latents)
        decode_seconds = (time.perf_counter() - decode_started) / len(latents)
        notes = tuple(describe_fit(image.size, size) for image in images)
        return EncodedSet(job.job_id, key, size, notes, reconstructions, decode_seconds,
                          time.perf_counter() - started)

    def blend(self, engine, job: Job) -> BlendFrame:
        """payload: t, mode="slerp", quality="full", key, refine=GenerationRequest|None."""
        from sdstudio.engine.exploration import blend

        started = time.perf_counter()
        payload = job.payload
        key, mode, quality = payload.get("key", INTERPOLATION_SET), payload.get("mode", "slerp"), payload.get(
            "quality", "full")
        t = min(max(float(payload["t"]), 0.0), 1.0)
        image_set, latents = self._latents(engine, key, payload.get("model"))
        if len(latents) != 2:
            raise InputError("an interpolation needs two images, A and B")
        latent = blend(latents[0], latents[1], t, mode)
        image = self._render(engine, latent, quality, image_set, payload.get("refine"))
        return BlendFrame(job.job_id, key, t, mode, quality, pil_to_qimage(image), time.perf_counter() - started)

    def plane(self, engine, job: Job) -> PlaneFrame:
        """payload: x, y in 0..1, quality="full", key."""
        from sdstudio.engine.exploration import plane_weights, weighted_blend

        started = time.perf_counter()
        payload = job.payload
        key, quality = payload.get("key", PLANE_SET), payload.get("quality", "full")
        x, y = float(payload["x"]), float(payload["y"])
        image_set, latents = self._latents(engine, key, payload.get("model"))
        weights = plane_weights(x, y, len(latents))
        latent = weighted_blend(latents, weights)
        image = self._render(engine, latent, quality, image_set, payload.get("refine"))
        return PlaneFrame(job.job_id, key, x, y, tuple(weights), quality, pil_to_qimage(image),
                          time.perf_counter() - started)

    def walk(self, engine, job: Job) -> WalkResult:
        """payload: walk (latent | refined | seed_prompt), frames, mode, key, model, refine (request),
        pacing (even | uniform), start/end (requests, for seed_prompt), path (file or folder) + format, fps."""
        from sdstudio.engine.exploration import seed_prompt_walk
        from sdstudio.io.animation import check_animation_path, write_animation, write_frames

        started = time.perf_counter()
        payload = job.payload
        kind, frames = payload.get("walk", "latent"), int(payload.get("frames", 16))
        path, export_format = payload.get("path"), payload.get("format", "gif")
        if kind not in WALK_KINDS:
            raise InputError(f"unknown walk '{kind}'; use one of {', '.join(WALK_KINDS)}")
        if path is not None and export_format != "png":
            check_animation_path(Path(path))
        cancel = self._worker.cancel_event

        def on_frame(index: int, total: int, _image: Image.Image) -> None:
            self._worker.signals.progress.emit(job.job_id, index, total, time.perf_counter() - started)

        times: list[float] = []
        if kind == "seed_prompt":
            images = seed_prompt_walk(engine, payload["start"], payload["end"], frames, on_frame, cancel)
        else:
            image_set, latents = self._latents(engine, payload.get("key", INTERPOLATION_SET), payload.get("model"))
            if len(latents) != 2:
                raise InputError("a walk needs two images, A and B")
            refine = payload.get("refine") if kind == "refined" else None
            if kind == "refined" and (refine is None or refine.strength <= 0):
                raise InputError("a refined walk needs a strength above 0")
            refine = self._refine_request(refine, image_set) if refine is not None else None
            mode = payload.get("mode", "slerp")
            if frames < 2:
                raise InputError(f"a walk needs at least 2 frames, not {frames}")
            times = [index / (frames - 1) for index in range(frames)]
            if payload.get("pacing", "even") == "even":
                times = paced_times(engine, latents[0], latents[1], frames, mode, cancel, refine)
            images = latent_walk(engine, latents[0], latents[1], times, mode, refine, on_frame, cancel)
        if cancel.is_set():
            raise Cancelled()
        written: tuple[Path, ...] = ()
        if path is not None:
            path = Path(path)
            if export_format == "png":
                written = tuple(write_frames(images, path))
            else:
                written = (write_animation(images, path, float(payload.get("fps", 12.0))),)
        return WalkResult(job.job_id, kind, tuple(pil_to_qimage(image) for image in images), path, written,
                          time.perf_counter() - started, tuple(times))

    def trajectory(self, engine, job: Job) -> TrajectoryResult:
        """job.request: the generation to run with its trajectory kept (one image); saved if an
        output folder is set. payload: previews = auto | cheap | full."""
        if job.request is None:
            raise InputError("a trajectory needs a generation request")
        started = time.perf_counter()
        request = replace(job.request, keep_trajectory=True, batch_count=1, previews=False)
        result = engine.generate(request, on_step=self._step_listener(job, started), cancel=self._worker.cancel_event)
        return self._keep_trajectory(engine, job, result.images[0], None, 0, started)

    def branch(self, engine, job: Job) -> TrajectoryResult:
        """payload: trajectory_id, step, prompt=None, seed=None (None = unchanged)."""
        from sdstudio.engine.exploration import branch

        started = time.perf_counter()
        payload = job.payload
        parent_id, step = int(payload["trajectory_id"]), int(payload["step"])
        parent = self._trajectory(parent_id)
        branched = branch(engine, parent, step, payload.get("prompt"), payload.get("seed"),
                          on_step=self._step_listener(job, started), cancel=self._worker.cancel_event)
        # the branch's own trajectory starts after step k; prepend the parent's first k so that it
        # scrubs (and branches again) over the whole schedule
        branched.trajectory = parent.trajectory[:step] + branched.trajectory
        branched.denoised = parent.denoised[:step] + branched.denoised
        return self._keep_trajectory(engine, job, branched, parent_id, step, started)

    def step(self, engine, job: Job) -> StepFrame:
        """payload: trajectory_id, step (1-based): the x0 estimate after that step, fully decoded."""
        from sdstudio.engine.exploration import full_decode

        started = time.perf_counter()
        trajectory_id, step = int(job.payload["trajectory_id"]), int(job.payload["step"])
        generated = self._trajectory(trajectory_id)
        if not 1 <= step <= len(generated.denoised):
            raise InputError(f"step {step} is not in this trajectory (1..{len(generated.denoised)})")
        image = full_decode(engine, generated.denoised[step - 1])
        return StepFrame(job.job_id, trajectory_id, step, pil_to_qimage(image), time.perf_counter() - started)

    # --- trajectory bookkeeping ---

    def _step_listener(self, job: Job, started: float):
        def on_step(event) -> None:
            if self._worker.cancel_event.is_set():
                raise Cancelled()
            self._worker.signals.progress.emit(job.job_id, event.step, event.total_steps, time.perf_counter() - started)

        return on_step

    def _trajectory(self, trajectory_id: int):
        generated = self._trajectories.get(trajectory_id)
        if generated is None:
            raise InputError("that trajectory is no longer kept; run the generation again")
        return generated

    def _keep_trajectory(self, engine, job: Job, generated, parent_id: int | None, step: int,
                         started: float) -> TrajectoryResult:
        trajectory_id = self._next_trajectory
        self._next_trajectory += 1
        self._trajectories[trajectory_id] = generated
        while len(self._trajectories) > self._keep:
            self._trajectories.popitem(last=False)
        steps, quality = self._step_previews(engine, generated.denoised)
        path = self._save(generated)
        return TrajectoryResult(job.job_id, trajectory_id, parent_id, step, steps, quality,
                                pil_to_qimage(generated.image), path, generated.request, generated.model_name,
                                time.perf_counter() - started)

    @staticmethod
    def _step_previews(engine, denoised: Sequence) -> tuple[tuple[QImage, ...], str]:
        """Every step's x0 estimate as an image: fully decoded when one decode is quick (small
        models), else through the cheap preview factors (the scrubber asks for the full decode of
        the step it settles on)."""
        from sdstudio.engine.exploration import cheap_decode, full_decode

        if not denoised:
            return (), "cheap"
        decode_started = time.perf_counter()
        first = full_decode(engine, denoised[0])
        if time.perf_counter() - decode_started <= FULL_PREVIEW_SECONDS:
            rest = [full_decode(engine, latent) for latent in denoised[1:]]
            return tuple(pil_to_qimage(image) for image in [first, *rest]), "full"
        return tuple(pil_to_qimage(cheap_decode(engine, latent)) for latent in denoised), "cheap"

    def _save(self, generated) -> Path | None:
        """Saved before it is shown, with its parameters, like every generation."""
        if self._output_dir is None:
            return None
        from sdstudio.io.images import next_output_path, save_image
        from sdstudio.io.metadata import format_parameters

        path = next_output_path(self._output_dir(), generated.seed)
        save_image(generated.image, path, format_parameters(generated.request, generated.model_name))
        return path


def latent_walk(engine, a, b, times: Sequence[float], mode: str, refine: GenerationRequest | None,
                on_frame: Callable[[int, int, Image.Image], None], cancel) -> list[Image.Image]:
    """Frames at the given t: the blend decoded, or refined with the same seed and prompt
    (so neighbouring frames stay close)."""
    from sdstudio.engine.exploration import blend, full_decode
    from sdstudio.engine.exploration import refine as refine_latent

    images = []
    for index, t in enumerate(times):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        latent = blend(a, b, t, mode)
        image = refine_latent(engine, latent, refine) if refine is not None else full_decode(engine, latent)
        images.append(image)
        on_frame(index + 1, len(times), image)
    return images


def paced_times(
    engine, a, b, frames: int, mode: str, cancel=None, refine: GenerationRequest | None = None
) -> list[float]:
    """t values at which the decoded (or refined) frames are evenly spaced in pixels.

    The VAE decoder is not linear, and a refined walk even less so (the denoiser snaps to one
    picture or the other): equal steps in t can give a still stretch and then a jump. A uniform
    probe pass measures how far each step moves the image (RMS pixel distance); the walk's t is
    then re-timed by inverting the cumulative distance (arc-length parametrisation), so a walk
    plays at an even pace. The probe renders frames the way the walk will (refined walks cost
    twice as much when paced). The ends stay exactly 0 and 1."""
    import numpy as np

    from sdstudio.engine.exploration import blend, full_decode
    from sdstudio.engine.exploration import refine as refine_latent

    uniform = [index / (frames - 1) for index in range(frames)]
    probes = []
    for t in uniform:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        latent = blend(a, b, t, mode)
        image = refine_latent(engine, latent, refine) if refine is not None else full_decode(engine, latent)
        probes.append(np.asarray(image, dtype=np.float64))
    steps = [float(np.sqrt(((after - before) ** 2).mean())) for before, after in zip(probes, probes[1:], strict=False)]
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    if travelled[-1] <= 0:
        return uniform
    targets = np.linspace(0.0, travelled[-1], frames)
    times = [float(t) for t in np.interp(targets, travelled, uniform)]
    times[0], times[-1] = 0.0, 1.0
    return times


def register_exploration_jobs(worker: EngineWorker, output_dir: Callable[[], Path] | None = None) -> ExplorationJobs:
    """Add the exploration job kinds to `worker` (before `worker.start()`). `output_dir` is where
    trajectory runs and branches are saved; None keeps them unsaved (tests, benchmarks)."""
    jobs = ExplorationJobs(worker, output_dir)
    jobs.register()
    return jobs
