"""The denoising loop: txt2img, img2img and inpaint over diffusers components, with CFG.

Written out like diffusers' pipelines (same noise, same scheduler calls, same batch order) so
that our images equal StableDiffusionPipeline's, but with what a studio needs and a pipeline
lacks: a typed event with a preview after every step, cancellation inside a step, the latent
trajectory, inpainting with normal models, and A1111's prompt editing (a `CondSchedule`: the
conditioning of each UNet call, counted from 0 as A1111's CFG denoiser counts them).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.conditioning import Conditioning, CondSchedule, sdxl_time_ids
from sdstudio.engine.interrupt import cancellable
from sdstudio.engine.previews import predicted_x0, preview_image
from sdstudio.errors import Cancelled

StepCallback = Callable[[int, int, torch.Tensor | None], None]  # (step, total, x0 of image 0)


@dataclass
class LoopState:
    """What the loop starts from. For inpainting with a normal model, `init_latent`, `noise` and
    `mask` (1 = repaint, at latent size) are set; for a 9-channel model, `extra_channels` is."""

    latents: torch.Tensor
    timesteps: torch.Tensor
    init_latent: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    extra_channels: torch.Tensor | None = None
    trajectory: list[torch.Tensor] = field(default_factory=list)  # latents after each step
    denoised: list[torch.Tensor] = field(default_factory=list)  # the model's x0 estimate at each step
    first_step: int = 0  # the prompt schedule's call number of the first step (a branch goes on from its parent's)


def schedule(scheduler: SchedulerMixin, steps: int, strength: float, device: torch.device) -> tuple[torch.Tensor, int]:
    """Timesteps to run: all of them for txt2img, the last `strength` fraction for img2img.

    Returns the timesteps and the index they start at (SDEdit, Meng et al. 2021)."""
    scheduler.set_timesteps(steps, device=device)
    if strength >= 1.0:
        return scheduler.timesteps, 0
    init_steps = max(1, min(int(steps * strength), steps))
    start = (steps - init_steps) * scheduler.order
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    return scheduler.timesteps[start:], start


def initial_noise(model: LoadedModel, width: int, height: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian latents drawn from a CPU generator, so a seed means the same image on any device."""
    f = model.vae_scale_factor
    shape = (1, model.unet.config.out_channels, height // f, width // f)
    return randn_tensor(shape, generator=generator, device=model.device, dtype=model.dtype)


def _alpha_bar(scheduler: SchedulerMixin, t: torch.Tensor) -> torch.Tensor:
    index = int(round(float(t)))
    alphas = scheduler.alphas_cumprod
    return alphas[min(max(index, 0), len(alphas) - 1)]


def _step_kwargs(scheduler: SchedulerMixin, generator: torch.Generator) -> dict:
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


def _unet_extras(model: LoadedModel, cond: Conditioning, width: int, height: int, guided: bool) -> dict:
    embeds, pooled = cond.for_unet(guided)
    extras: dict = {"encoder_hidden_states": embeds}
    if model.is_sdxl:
        time_ids = sdxl_time_ids(model, width, height, guided)
        extras["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
    return extras


@torch.inference_mode()
def denoise(
    model: LoadedModel,
    scheduler: SchedulerMixin,
    cond: Conditioning | CondSchedule,
    state: LoopState,
    cfg_scale: float,
    size: tuple[int, int],
    generator: torch.Generator,
    on_step: StepCallback | None = None,
    cancel: threading.Event | None = None,
    keep_trajectory: bool = False,
) -> torch.Tensor:
    """Run the sampler from `state.latents` over `state.timesteps`; returns the final latents.

    Classifier-free guidance (Ho & Salimans 2022) batches [negative, positive] in one UNet call;
    a `CondSchedule` gives each call its own embeddings (A1111's prompt editing).
    Checks `cancel` before every step and before every UNet block, and raises Cancelled, so a
    cancelled job stops within one block.
    """
    with cancellable(model.unet, cancel):
        guided = cfg_scale > 1.0
        schedule = cond if isinstance(cond, CondSchedule) else CondSchedule.constant(cond)
        step_cond = schedule.at(state.first_step)
        extras = _unet_extras(model, step_cond, *size, guided)
        step_kwargs = _step_kwargs(scheduler, generator)
        layout = unet_layout(model)
        latents, timesteps = state.latents, state.timesteps
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if (now := schedule.at(state.first_step + i)) is not step_cond:  # an edit or alternation switches here
                step_cond, extras = now, _unet_extras(model, now, *size, guided)
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if guided else latents, t)
            unet_input = model_input
            if state.extra_channels is not None:
                extra = torch.cat([state.extra_channels] * 2) if guided else state.extra_channels
                unet_input = torch.cat([model_input, extra], dim=1)
            if layout is not None:
                unet_input = unet_input.contiguous(memory_format=layout)
            noise_pred = model.unet(unet_input, t, return_dict=False, **extras)[0]
            if guided:
                noise_uncond, noise_text = noise_pred.chunk(2)
                noise_pred = noise_uncond + cfg_scale * (noise_text - noise_uncond)
            x0 = None
            if on_step is not None or keep_trajectory:
                x0 = predicted_x0(noise_pred, model_input[:1], _alpha_bar(scheduler, t), model.prediction_type)
            latents = scheduler.step(noise_pred, t, latents, return_dict=False, **step_kwargs)[0]
            if state.mask is not None:
                latents = _keep_known_region(scheduler, state, latents, timesteps, i)
            if keep_trajectory:
                state.trajectory.append(latents.detach().to("cpu", torch.float32).clone())
                state.denoised.append(x0.detach().to("cpu", torch.float32).clone())
            if on_step is not None:
                on_step(i + 1, total, x0)
        return latents


def unet_layout(model: LoadedModel) -> torch.memory_format | None:
    """The memory layout the UNet's input is given in: channels-last (NHWC) on the CPU, where oneDNN's
    convolutions tend to run faster on it, and every convolution after the first follows the input's
    layout. One full-size SD 1.5 UNet call at 256x256 (CFG batch of 2), interleaved on a busy 2-core
    machine: 0.80x the NCHW time with 2 threads, 0.56x with 1 (medians of 3, noisy); on a quiet one
    it neither gains nor loses (2.47 s vs 2.53 s), and weights in channels-last lose (3.29 s); the output is
    the same to ~2e-6. The VAE decoder gained nothing (1.02x), so it is left alone. Elsewhere (None)
    the input stays as it is, so a GPU's own choice (or a UNet converted to channels-last) stands."""
    return torch.channels_last if model.device.type == "cpu" else None


def _keep_known_region(
    scheduler: SchedulerMixin, state: LoopState, latents: torch.Tensor, timesteps: torch.Tensor, i: int
) -> torch.Tensor:
    """Normal-model inpainting: outside the mask, the original latent noised to the next level."""
    known = state.init_latent
    if i < len(timesteps) - 1:
        known = scheduler.add_noise(state.init_latent, state.noise, timesteps[i + 1 : i + 2])
    return (1 - state.mask) * known + state.mask * latents


def preview_callback(
    model: LoadedModel,
    started: float,
    emit: Callable[[int, int, float, object], None],
    with_previews: bool,
) -> StepCallback:
    """Adapts the loop's (step, total, x0) to an event with a cheap preview image.

    Previews stay at latent resolution (1/8 of the image): scaling is the viewer's job, done
    only for the frames actually shown, never in the loop."""

    def on_step(step: int, total: int, x0: torch.Tensor | None) -> None:
        preview = None
        if with_previews and x0 is not None:
            preview = preview_image(x0[0], model.preview_factors)
        emit(step, total, time.perf_counter() - started, preview)

    return on_step
