"""Hires fix (A1111's "highres. fix"): a second, img2img pass at a larger size over the first pass.

A model draws coherent compositions only near the size it was trained at; asked for 1024 px, an
SD 1.x model repeats subjects. Hires fix generates at the base size, enlarges the result (in
latent space with bicubic interpolation, or in pixels with Lanczos: decode -> resize -> encode),
then re-noises it to `denoise` and denoises it again at the large size, which adds detail while
keeping the composition (SDEdit, Meng et al. 2021, applied to an upscale).

Both passes use the loaded model (no reload). The second pass has its own prompt schedule, as in
A1111: prompt editing's timeline goes on through it (a fraction from 1.0 to 2.0, or a step number
past the first pass's steps, falls in the second pass), over the second pass's steps. Its texts
come from the engine's conditioning cache, so a prompt without edits is encoded once per job.

The two passes report as one run of steps: step numbers keep rising through the second pass and
`total_steps` counts both, so a progress bar fills once and a listener that treats a falling step
number as "next image of the batch" keeps working.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.conditioning import Conditioning, CondSchedule
from sdstudio.engine.latents import decode, encode
from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler, hires_size
from sdstudio.engine.samplers import make_scheduler
from sdstudio.engine.sampling import LoopState, StepCallback, denoise, schedule


def hires_steps(request: GenerationRequest) -> int:
    """Steps the second pass is scheduled over: its own count, or the base job's when 0."""
    assert request.hires is not None
    return request.hires.steps or request.steps


@dataclass
class HiresPass:
    """The second pass, planned before the first one runs so the step total is known up front."""

    settings: HiresFix
    size: tuple[int, int]
    scheduler: object
    timesteps: torch.Tensor

    @property
    def step_count(self) -> int:
        return len(self.timesteps)


def plan(model: LoadedModel, request: GenerationRequest) -> HiresPass:
    """A fresh scheduler for the second pass and the timesteps it will run (the last `denoise`
    fraction of `hires_steps`, as A1111 runs img2img)."""
    settings = request.hires
    assert settings is not None
    scheduler = make_scheduler(request.sampler, model.scheduler_config)
    timesteps, _ = schedule(scheduler, hires_steps(request), settings.denoise, model.device)
    return HiresPass(settings, hires_size(request.width, request.height, settings.scale), scheduler, timesteps)


def upscale_latents(
    model: LoadedModel, latents: torch.Tensor, size: tuple[int, int], upscaler: Upscaler
) -> torch.Tensor:
    """The first pass's latents enlarged to `size` (pixels): bicubic on the latent, or Lanczos on
    the decoded image and encoded again (slower, but no latent-space blur)."""
    f = model.vae_scale_factor
    latent_size = (size[1] // f, size[0] // f)
    if upscaler is Upscaler.LATENT:
        return F.interpolate(latents.float(), size=latent_size, mode="bicubic", align_corners=False).to(latents.dtype)
    image = decode(model.vae, latents)[0].resize(size, Image.Resampling.LANCZOS)
    return encode(model.vae, image).to(model.device, model.dtype)


def shifted(callback: StepCallback | None, offset: int, total: int) -> StepCallback | None:
    """A pass's step callback renumbered into the whole job's run of steps."""
    if callback is None:
        return None

    def on_step(step: int, _pass_total: int, x0: torch.Tensor | None) -> None:
        callback(step + offset, total, x0)

    return on_step


def second_pass(
    model: LoadedModel,
    hires: HiresPass,
    cond: Conditioning | CondSchedule,
    latents: torch.Tensor,
    cfg_scale: float,
    generator: torch.Generator,
    on_step: StepCallback | None,
    cancel: threading.Event | None,
) -> torch.Tensor:
    """Upscale the first pass's latents, re-noise them to the hires denoise level and denoise
    again at the large size. The noise comes from the job's generator after the first pass's
    draw, so a seed still means one image."""
    upscaled = upscale_latents(model, latents, hires.size, hires.settings.upscaler)
    noise = torch.randn(upscaled.shape, generator=generator, dtype=torch.float32).to(model.device, model.dtype)
    if hires.settings.denoise >= 1.0:
        start = noise * hires.scheduler.init_noise_sigma
    else:
        start = hires.scheduler.add_noise(upscaled, noise, hires.timesteps[:1])
    state = LoopState(start, hires.timesteps)
    return denoise(model, hires.scheduler, cond, state, cfg_scale, hires.size, generator, on_step, cancel)
