"""Engine-thread handlers of the latent exploration jobs: blends, plane points, walks, trajectories.

They keep every tensor on the engine thread (encoded image sets, kept trajectories), so only
small frozen results with `QImage`s cross to the GUI (`sdstudio.bridge.messages`). torch and the
engine are imported inside the handlers: importing this module stays light.

Latents are decoded with the VAE they came from: a set's with the VAE it was encoded with (a job
asking for another model or VAE encodes the set again), a trajectory's with its generation's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtGui import QImage

from sdstudio.bridge.jobs import (
    WALK_KINDS,
    BlendJob,
    BranchJob,
    EncodeJob,
    JobKind,
    PlaneJob,
    StepJob,
    TrajectoryJob,
    WalkJob,
)
from sdstudio.bridge.local.context import JobContext
from sdstudio.bridge.messages import (
    BlendFrame,
    EncodedSet,
    PlaneFrame,
    StepFrame,
    TrajectoryResult,
    WalkResult,
)
from sdstudio.bridge.qimage import pil_to_qimage, qimage_to_pil
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError

MAX_SIDE = 1024  # a photo dropped on the slider is scaled down to this: encode/decode time grows with area
FULL_PREVIEW_SECONDS = 0.05  # a trajectory decodes every step fully when one decode is this fast


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
    vae: str = ""  # the VAE asked for ("" the model's own)
    latents: list = field(default_factory=list)
    loaded: object = None  # the LoadedModel the latents belong to
    encoded_vae: str | None = None  # the VAE file (vae_file_key) the latents were encoded with


class ExplorationJobs:
    """The engine-thread side of the exploration tools. Only the handlers touch its state, and they
    all run on the one engine thread, so it needs no locks."""

    def __init__(self, keep_trajectories: int = 8) -> None:
        self._cache = None  # a LatentCache, made on the engine thread (importing torch is slow)
        self._sets: dict[str, _ImageSet] = {}
        self._trajectories: OrderedDict[int, Any] = OrderedDict()  # id -> GeneratedImage
        self._keep = keep_trajectories
        self._next_trajectory = 1
        self._paths: dict[int, Path | None] = {}  # trajectory id -> where its image was saved

    def handlers(self) -> dict:
        return {JobKind.ENCODE: self.encode, JobKind.BLEND: self.blend, JobKind.PLANE: self.plane,
                JobKind.WALK: self.walk, JobKind.TRAJECTORY: self.trajectory, JobKind.STEP: self.step,
                JobKind.BRANCH: self.branch}

    # --- latents ---

    def _latents(self, engine, key: str, model: str | None = None, vae: str | None = None) -> tuple[_ImageSet, list]:
        """The set's latents under `model` and `vae` (None: the set's own), re-encoded, through
        the cache, when either changed (a VAE file replaced under its name counts)."""
        from sdstudio.engine.exploration import LatentCache, vae_file_key

        image_set = self._sets.get(key)
        if image_set is None:
            raise InputError("choose the images to blend first")
        model = image_set.model if model is None else model
        vae = image_set.vae if vae is None else vae
        loaded, encoded_vae = engine.load(model), vae_file_key(vae)
        if loaded is not image_set.loaded or encoded_vae != image_set.encoded_vae:
            if self._cache is None:
                self._cache = LatentCache()
            image_set.latents = [self._cache.latent(engine, image, image_set.size, model, vae)
                                 for image in image_set.images]
            image_set.loaded, image_set.model, image_set.vae, image_set.encoded_vae = loaded, model, vae, encoded_vae
        return image_set, image_set.latents

    def _render(self, engine, latent, quality: str, image_set: _ImageSet, refine: GenerationRequest | None):
        from sdstudio.engine import exploration

        if quality == "cheap":
            return exploration.cheap_decode(engine, latent)
        if quality == "refined" and refine is not None and refine.strength > 0:
            return exploration.refine(engine, latent, self._refine_request(refine, image_set))
        return exploration.full_decode(engine, latent, vae=image_set.vae)  # _latents made the set's model current

    @staticmethod
    def _refine_request(request: GenerationRequest, image_set: _ImageSet) -> GenerationRequest:
        """The refine at the set's size, with the set's model and VAE (its latents are theirs)."""
        width, height = image_set.size
        return replace(request, width=width, height=height, model=image_set.model, vae=image_set.vae, batch_count=1)

    # --- handlers ---

    def encode(self, engine, job: EncodeJob, context: JobContext) -> EncodedSet:
        from sdstudio.engine.exploration import full_decode
        from sdstudio.engine.interpolation import fit_image

        images = [_as_pil(image) for image in job.images]
        if not images:
            raise InputError("choose at least one image")
        size = tuple(job.size or target_size(images[0].size))
        self._sets[job.key] = _ImageSet([fit_image(image, size) for image in images], size, job.model, job.vae)
        image_set, latents = self._latents(engine, job.key)
        decode_started = time.perf_counter()
        reconstructions = tuple(pil_to_qimage(full_decode(engine, latent, vae=image_set.vae)) for latent in latents)
        decode_seconds = (time.perf_counter() - decode_started) / len(latents)
        notes = tuple(describe_fit(image.size, size) for image in images)
        return EncodedSet(context.job_id, job.key, size, notes, reconstructions, decode_seconds, context.elapsed())

    def blend(self, engine, job: BlendJob, context: JobContext) -> BlendFrame:
        from sdstudio.engine.exploration import blend

        t = min(max(float(job.t), 0.0), 1.0)
        image_set, latents = self._latents(engine, job.key, job.model, job.vae)
        if len(latents) != 2:
            raise InputError("an interpolation needs two images, A and B")
        latent = blend(latents[0], latents[1], t, job.mode)
        image = self._render(engine, latent, job.quality, image_set, job.refine)
        return BlendFrame(context.job_id, job.key, t, job.mode, job.quality, pil_to_qimage(image), context.elapsed())

    def plane(self, engine, job: PlaneJob, context: JobContext) -> PlaneFrame:
        from sdstudio.engine.exploration import plane_weights, weighted_blend

        image_set, latents = self._latents(engine, job.key, job.model, job.vae)
        weights = plane_weights(float(job.x), float(job.y), len(latents))
        latent = weighted_blend(latents, weights)
        image = self._render(engine, latent, job.quality, image_set, job.refine)
        return PlaneFrame(context.job_id, job.key, job.x, job.y, tuple(weights), job.quality, pil_to_qimage(image),
                          context.elapsed())

    def walk(self, engine, job: WalkJob, context: JobContext) -> WalkResult:
        from sdstudio.engine.exploration import latent_walk, seed_prompt_walk
        from sdstudio.io.animation import check_animation_path, write_animation, write_frames

        if job.walk not in WALK_KINDS:
            raise InputError(f"unknown walk '{job.walk}'; use one of {', '.join(WALK_KINDS)}")
        if job.path is not None and job.format != "png":
            check_animation_path(Path(job.path))

        def on_frame(index: int, total: int, _image: Image.Image) -> None:
            context.progress(index, total)

        times: list[float] = []
        if job.walk == "seed_prompt":
            if job.start is None or job.end is None:
                raise InputError("a seed/prompt walk needs a start and an end generation")
            images = seed_prompt_walk(engine, job.start, job.end, job.frames, on_frame, context.cancel)
        else:
            image_set, latents = self._latents(engine, job.key, job.model, job.vae)
            if len(latents) != 2:
                raise InputError("a walk needs two images, A and B")
            refine = job.refine if job.walk == "refined" else None
            if job.walk == "refined" and (refine is None or refine.strength <= 0):
                raise InputError("a refined walk needs a strength above 0")
            refine = self._refine_request(refine, image_set) if refine is not None else None
            walk = latent_walk(engine, latents[0], latents[1], job.frames, job.mode, refine, job.pacing, on_frame,
                               context.cancel, image_set.vae)
            images, times = walk.images, walk.times
        context.check()
        written: tuple[Path, ...] = ()
        path = Path(job.path) if job.path is not None else None
        if path is not None:
            with context.writing:
                if job.format == "png":
                    written = tuple(write_frames(images, path))
                else:
                    written = (write_animation(images, path, float(job.fps)),)
        return WalkResult(context.job_id, job.walk, tuple(pil_to_qimage(image) for image in images), path, written,
                          context.elapsed(), tuple(times))

    def trajectory(self, engine, job: TrajectoryJob, context: JobContext) -> TrajectoryResult:
        """The generation run with its trajectory kept (one image), per-step previews on; saved
        if an output folder is set."""
        request = replace(job.request, keep_trajectory=True, batch_count=1, previews=True)
        result = engine.generate(request, on_step=context.on_step, cancel=context.cancel, on_load=context.on_load)
        return self._keep_trajectory(engine, context, result.images[0], None, 0)

    def branch(self, engine, job: BranchJob, context: JobContext) -> TrajectoryResult:
        from sdstudio.engine.exploration import branch

        parent = self._trajectory(job.trajectory_id)
        branched = branch(engine, parent, job.step, job.prompt, job.seed, on_step=context.on_step,
                          cancel=context.cancel)
        # the branch's own trajectory starts after step k; prepend the parent's first k so that it
        # scrubs (and branches again) over the whole schedule
        branched.trajectory = parent.trajectory[:job.step] + branched.trajectory
        branched.denoised = parent.denoised[:job.step] + branched.denoised
        return self._keep_trajectory(engine, context, branched, job.trajectory_id, job.step)

    def step(self, engine, job: StepJob, context: JobContext) -> StepFrame:
        """The x0 estimate after that step (1-based), fully decoded as its generation's image was:
        its model (loaded again if another is current now, as for a branch) and its VAE."""
        from sdstudio.engine.exploration import full_decode

        generated = self._trajectory(job.trajectory_id)
        if not 1 <= job.step <= len(generated.denoised):
            raise InputError(f"step {job.step} is not in this trajectory (1..{len(generated.denoised)})")
        request = generated.request
        image = full_decode(engine, generated.denoised[job.step - 1], request.model, request.vae)
        return StepFrame(context.job_id, job.trajectory_id, job.step, pil_to_qimage(image), context.elapsed())

    # --- trajectory bookkeeping ---

    def _trajectory(self, trajectory_id: int):
        generated = self._trajectories.get(trajectory_id)
        if generated is None:
            raise InputError("that trajectory is no longer kept; run the generation again")
        return generated

    def _keep_trajectory(self, engine, context: JobContext, generated, parent_id: int | None,
                         step: int) -> TrajectoryResult:
        trajectory_id = self._next_trajectory
        self._next_trajectory += 1
        self._trajectories[trajectory_id] = generated
        while len(self._trajectories) > self._keep:
            evicted, _ = self._trajectories.popitem(last=False)
            self._paths.pop(evicted, None)
        steps, quality = self._step_previews(engine, generated)
        path = self._save(context, generated, parent_id, step)
        self._paths[trajectory_id] = path
        return TrajectoryResult(context.job_id, trajectory_id, parent_id, step, steps, quality,
                                pil_to_qimage(generated.image), path, generated.request, generated.model_name,
                                context.elapsed())

    @staticmethod
    def _step_previews(engine, generated) -> tuple[tuple[QImage, ...], str]:
        """Every step's x0 estimate as an image: fully decoded (with the generation's VAE, as its
        final image) when one decode is quick (small models), else through the cheap preview
        factors (the scrubber asks for the full decode of the step it settles on)."""
        from sdstudio.engine.exploration import cheap_decode, full_decode

        denoised, vae = generated.denoised, generated.request.vae  # its model is the current one: it just ran
        if not denoised:
            return (), "cheap"
        decode_started = time.perf_counter()
        first = full_decode(engine, denoised[0], vae=vae)
        if time.perf_counter() - decode_started <= FULL_PREVIEW_SECONDS:
            rest = [full_decode(engine, latent, vae=vae) for latent in denoised[1:]]
            return tuple(pil_to_qimage(image) for image in [first, *rest]), "full"
        return tuple(pil_to_qimage(cheap_decode(engine, latent)) for latent in denoised), "cheap"

    def _save(self, context: JobContext, generated, parent_id: int | None, step: int) -> Path | None:
        """Saved before it is shown, with its parameters; a branch says what it branched from."""
        extra = None
        if parent_id is not None:
            parent_path = self._paths.get(parent_id)
            extra = {"Branched from": parent_path.name if parent_path else f"trajectory {parent_id}",
                     "Branch step": str(step)}
        saved = context.save(generated, extra)
        return saved.path if saved is not None else None
