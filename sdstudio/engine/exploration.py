"""Seeing and steering the latent space: blends of VAE latents, walks, and trajectory branches.

Everything here runs on the engine thread over an `Engine`; results are PIL images so that the
UI needs no torch. Latents of the images being explored are cached (per model, VAE and size), so
a slider or a pad only pays for the blend and the decode.

A latent is decoded with the VAE it was encoded with (or, for a trajectory, the VAE its generation
decoded with): the same latent through another VAE gives other colours and detail, so a blend or a
scrubbed step would not match the images the user chose or made. Only `cheap_decode` has no VAE.

Which interpolation by default: **slerp**. Two clean VAE latents of different images are nearly
uncorrelated, so lerp's midpoint has a smaller norm (about 0.7x at t=0.5), which the VAE decodes
as a washed-out, low-contrast ghost of both. Our slerp interpolates the direction on the sphere
and the norm linearly, so in-between frames keep the contrast of real images; lerp stays on offer
as the honest cross-fade. For Gaussian noise (seed walks) slerp is the only right choice: a
shrunken noise reads as "less noise" to the denoiser.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from PIL import Image

from sdstudio.engine.conditioning import Conditioning
from sdstudio.engine.engine import Engine, Start
from sdstudio.engine.interpolation import fit_image
from sdstudio.engine.latents import encode, lerp, slerp
from sdstudio.engine.previews import preview_image
from sdstudio.engine.requests import GeneratedImage, GenerationRequest, Mode
from sdstudio.engine.sampling import initial_noise
from sdstudio.engine.vae_files import resolve_vae
from sdstudio.errors import Cancelled, InputError

FrameListener = Callable[[int, int, Image.Image], None]  # (frame index 1-based, total, image)
INTERPOLATION_MODES = ("slerp", "lerp")
WALK_PACINGS = ("even", "uniform")


def blend(a: torch.Tensor, b: torch.Tensor, t: float, mode: str = "slerp") -> torch.Tensor:
    if mode not in INTERPOLATION_MODES:
        raise InputError(f"unknown interpolation mode '{mode}'; use slerp or lerp")
    return slerp(a, b, t) if mode == "slerp" else lerp(a, b, t)


def plane_weights(x: float, y: float, corners: int) -> list[float]:
    """Weights of the corner images at point (x, y) of the unit pad.

    4 corners (top-left, top-right, bottom-left, bottom-right): bilinear weights.
    3 corners (top-left, top-right, bottom-centre): barycentric weights of the triangle, with the
    point clamped into it, so every point of the pad shows a convex blend."""
    x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    if corners == 4:
        return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y]
    if corners != 3:
        raise InputError("a latent plane needs 3 or 4 images")
    w_bottom = y
    remaining = 1.0 - y
    w_right = min(max(x - 0.5 * y, 0.0), remaining)
    return [remaining - w_right, w_right, w_bottom]


def weighted_blend(latents: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """A convex blend of several latents, its norm set to the blend of their norms (see slerp)."""
    mix = sum(w * latent.float() for w, latent in zip(weights, latents, strict=True))
    target_norm = sum(w * latent.float().norm() for w, latent in zip(weights, latents, strict=True))
    norm = mix.norm()
    if norm > 0:
        mix = mix * (target_norm / norm)
    return mix.to(latents[0].dtype)


class LatentCache:
    """VAE latents of images, keyed by model, VAE file, pixels and size: encoding is the slow part."""

    def __init__(self, capacity: int = 32) -> None:
        self._items: OrderedDict[tuple[str, str, str, tuple[int, int]], torch.Tensor] = OrderedDict()
        self._capacity = capacity

    def latent(self, engine: Engine, image: Image.Image, size: tuple[int, int], model: str = "",
               vae: str = "") -> torch.Tensor:
        loaded = engine.with_vae(model, vae)
        fitted = fit_image(image, size)
        key = (loaded.source or loaded.name, vae_file_key(vae), hashlib.sha1(fitted.tobytes()).hexdigest(), size)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        latent = encode(loaded.vae, fitted).to(loaded.dtype)
        self._items[key] = latent
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return latent


def vae_file_key(vae: str) -> str:
    """The VAE file `vae` names, with its size and time ("" for the model's own): a file replaced
    under the same name is another VAE, as for the engine's VaeCache."""
    if not vae:
        return ""
    path = resolve_vae(vae).resolve()
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def cheap_decode(engine: Engine, latent: torch.Tensor) -> Image.Image:
    """Latent-sized RGB through the model's preview factors: microseconds, for dragging (no VAE)."""
    return preview_image(latent[0], engine.load().preview_factors)


def full_decode(engine: Engine, latent: torch.Tensor, model: str = "", vae: str = "") -> Image.Image:
    """The latent through the VAE it belongs to: `vae` ("" the model's own) of `model` ("" the current)."""
    return engine.decode_latents(latent, model, vae)[0]


def refine(engine: Engine, latent: torch.Tensor, request: GenerationRequest) -> Image.Image:
    """An in-between latent made into an image: img2img from the latent at `request.strength`."""
    if request.strength <= 0:
        return full_decode(engine, latent, request.model, request.vae)
    plain = replace(request, init_image=None, mask_image=None, batch_count=1, previews=False)
    return engine.generate(plain, start=Start(init_latent=latent)).images[0].image


@dataclass
class Walk:
    """A walk's frames and the t of each (evenly paced walks are not uniform in t)."""

    images: list[Image.Image]
    times: list[float]


def latent_walk(
    engine: Engine,
    latent_a: torch.Tensor,
    latent_b: torch.Tensor,
    frames: int,
    mode: str = "slerp",
    refine_request: GenerationRequest | None = None,
    pacing: str = "even",
    on_frame: FrameListener | None = None,
    cancel: threading.Event | None = None,
    vae: str = "",
) -> Walk:
    """The one walk from A to B (app, CLI and benchmarks): `frames` blends decoded (with `vae`, the
    one A and B were encoded with), or refined with the same seed and prompt so neighbouring frames
    stay close; `pacing="even"` re-times them so the picture moves at a steady pace (see `paced_times`)."""
    if frames < 2:
        raise InputError(f"a walk needs at least 2 frames, not {frames}")
    if mode not in INTERPOLATION_MODES:
        raise InputError(f"unknown interpolation '{mode}'; use one of {', '.join(INTERPOLATION_MODES)}")
    if pacing not in WALK_PACINGS:
        raise InputError(f"unknown pacing '{pacing}'; use one of {', '.join(WALK_PACINGS)}")
    times = [index / (frames - 1) for index in range(frames)]
    if pacing == "even":
        times = paced_times(engine, latent_a, latent_b, frames, mode, cancel, refine_request, vae)
    images = []
    for index, t in enumerate(times):
        _check(cancel)
        image = _walk_frame(engine, blend(latent_a, latent_b, t, mode), refine_request, vae)
        images.append(image)
        if on_frame is not None:
            on_frame(index + 1, frames, image)
    _check(cancel)
    return Walk(images, times)


def _walk_frame(engine: Engine, latent: torch.Tensor, refine_request: GenerationRequest | None,
                vae: str) -> Image.Image:
    if refine_request is not None:
        return refine(engine, latent, refine_request)
    return full_decode(engine, latent, vae=vae)


def paced_times(
    engine: Engine,
    latent_a: torch.Tensor,
    latent_b: torch.Tensor,
    frames: int,
    mode: str,
    cancel: threading.Event | None = None,
    refine_request: GenerationRequest | None = None,
    vae: str = "",
) -> list[float]:
    """t values at which the decoded (or refined) frames are evenly spaced in pixels.

    The VAE decoder is not linear, and a refined walk even less so (the denoiser snaps to one
    picture or the other): equal steps in t can give a still stretch and then a jump. A uniform
    probe pass measures how far each step moves the image (RMS pixel distance); the walk's t is
    then re-timed by inverting the cumulative distance (arc-length parametrisation), so a walk
    plays at an even pace. The probe renders frames the way the walk will (refined walks cost
    twice as much when paced). The ends stay exactly 0 and 1."""
    import numpy as np

    uniform = [index / (frames - 1) for index in range(frames)]
    probes = []
    for t in uniform:
        _check(cancel)
        image = _walk_frame(engine, blend(latent_a, latent_b, t, mode), refine_request, vae)
        probes.append(np.asarray(image, dtype=np.float64))
    steps = [float(np.sqrt(((after - before) ** 2).mean())) for before, after in zip(probes, probes[1:], strict=False)]
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    if travelled[-1] <= 0:
        return uniform
    targets = np.linspace(0.0, travelled[-1], frames)
    times = [float(t) for t in np.interp(targets, travelled, uniform)]
    times[0], times[-1] = 0.0, 1.0
    return times


def lerp_conditioning(a: Conditioning, b: Conditioning, t: float) -> Conditioning:
    """Prompt embeddings blended linearly (they are not Gaussian; lerp is what CLIP space affords)."""

    def mix(x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None or y is None else lerp(x, y, t)

    return Conditioning(mix(a.prompt, b.prompt), mix(a.negative, b.negative), mix(a.pooled, b.pooled),
                        mix(a.negative_pooled, b.negative_pooled))


def same_length(a: Conditioning, b: Conditioning, empty_chunk: torch.Tensor) -> tuple[Conditioning, Conditioning]:
    """Two prompts' embeddings padded to the same number of 77-token chunks, so they can be blended:
    a long prompt has more chunks, and the shorter one gets empty-prompt chunks, as A1111 pads a
    negative to its prompt (a zeroed SDXL negative is padded with zeros)."""

    def padded(x: torch.Tensor | None, tokens: int) -> torch.Tensor | None:
        if x is None or x.ndim != 3 or x.shape[1] >= tokens:
            return x
        filler = empty_chunk.to(x.dtype) if x.abs().sum() > 0 else torch.zeros_like(empty_chunk, dtype=x.dtype)
        repeats = -(-(tokens - x.shape[1]) // filler.shape[1])
        return torch.cat([x, filler.repeat(1, repeats, 1)], dim=1)[:, :tokens]

    tokens = max(t.shape[1] for t in (a.prompt, a.negative, b.prompt, b.negative))
    return tuple(replace(c, prompt=padded(c.prompt, tokens), negative=padded(c.negative, tokens)) for c in (a, b))


def seed_noise(engine: Engine, request: GenerationRequest, seed: int) -> torch.Tensor:
    model = engine.load(request.model)
    return initial_noise(model, request.width, request.height, torch.Generator("cpu").manual_seed(seed))


def seed_prompt_walk(
    engine: Engine,
    start_request: GenerationRequest,
    end_request: GenerationRequest,
    frames: int,
    on_frame: FrameListener | None = None,
    cancel: threading.Event | None = None,
) -> list[Image.Image]:
    """Frames between two generations: initial noise slerped between their seeds, prompt
    embeddings lerped between their prompts; sampler, steps, CFG and size from the start."""
    if frames < 2:
        raise InputError(f"a walk needs at least 2 frames, not {frames}")
    request = replace(start_request.validated(), init_image=None, mask_image=None, batch_count=1, previews=False)
    engine.load(request.model)
    noise_a, noise_b = seed_noise(engine, request, start_request.seed), seed_noise(engine, request, end_request.seed)
    cond_a = engine.conditioning(start_request.prompt, start_request.negative_prompt, request.clip_skip)
    cond_b = engine.conditioning(end_request.prompt, end_request.negative_prompt, request.clip_skip)
    cond_a, cond_b = same_length(cond_a, cond_b, engine.conditioning("", "", request.clip_skip).prompt)
    images = []
    for index in range(frames):
        _check(cancel)
        t = index / (frames - 1)
        start = Start(noise=slerp(noise_a, noise_b, t), cond=lerp_conditioning(cond_a, cond_b, t))
        image = engine.generate(request, cancel=cancel, start=start).images[0].image
        images.append(image)
        if on_frame is not None:
            on_frame(index + 1, frames, image)
    return images


def branch(
    engine: Engine,
    generated: GeneratedImage,
    step: int,
    prompt: str | None = None,
    seed: int | None = None,
    on_step=None,
    cancel: threading.Event | None = None,
) -> GeneratedImage:
    """Resume the denoising of `generated` after step k with a changed prompt and/or seed.

    Same seed: the loop continues from the exact latent it had after step k (same prompt -> the
    same image again). New seed: the model's clean estimate at step k is re-noised with the new
    seed's noise to the same level, so what was settled by step k stays and the rest is re-rolled.
    The branch keeps the original's model and VAE (its request's), so it decodes as the original did."""
    original = generated.request
    if original.mode is Mode.INPAINT:
        raise InputError("branching works on txt2img and img2img results, not inpaintings")
    if not generated.trajectory:
        raise InputError("this image has no kept trajectory; generate it again with the trajectory kept")
    steps_run = len(generated.trajectory)
    if not 1 <= step < steps_run:
        raise InputError(f"branch after a step from 1 to {steps_run - 1}, not {step}")
    skipped = original.steps - steps_run  # img2img runs only the last `strength` part of the schedule
    request = replace(original, prompt=original.prompt if prompt is None else prompt,
                      seed=original.seed if seed is None else seed,
                      init_image=None, mask_image=None, batch_count=1, keep_trajectory=True)
    latent = generated.trajectory[step - 1]
    if request.seed != original.seed:
        latent = _renoise(engine, request, generated.denoised[step - 1], skipped + step)
    result = engine.generate(request, on_step=on_step, cancel=cancel,
                             start=Start(resume_latent=latent, resume_step=skipped + step))
    return result.images[0]


def _renoise(engine: Engine, request: GenerationRequest, x0: torch.Tensor, resume_step: int) -> torch.Tensor:
    """x0 noised to the level the loop is at before step `resume_step`+1, with the request's seed."""
    from sdstudio.engine.samplers import make_scheduler

    model = engine.load(request.model)
    scheduler = make_scheduler(request.sampler, model.scheduler_config)
    scheduler.set_timesteps(request.steps, device=model.device)
    timestep = scheduler.timesteps[resume_step * scheduler.order : resume_step * scheduler.order + 1]
    noise = seed_noise(engine, request, request.seed)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(resume_step * scheduler.order)
    return scheduler.add_noise(x0.to(model.device, model.dtype), noise, timestep)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()
