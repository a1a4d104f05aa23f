"""The engine facade: one object that owns the loaded model and runs jobs on it.

Used by the CLI directly and by the GUI's worker thread. Not thread-safe by design: diffusers
schedulers and tokenizers keep state, so exactly one thread owns an Engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from sdstudio.engine import hires, inpaint
from sdstudio.engine.allocator import keep_freed_memory
from sdstudio.engine.components import LoadedModel
from sdstudio.engine.conditioning import Conditioning, CondSchedule, Encoded
from sdstudio.engine.job_clock import LONG_JOB_SECONDS, JobClock, StepRates
from sdstudio.engine.latents import decode, encode, encode_tensor
from sdstudio.engine.prompt_syntax import parse_prompt
from sdstudio.engine.prompting import PromptEncoder
from sdstudio.engine.requests import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    LoadEvent,
    Mode,
    StepEvent,
)
from sdstudio.engine.samplers import make_scheduler
from sdstudio.engine.sampling import LoopState, denoise, initial_noise, preview_callback, schedule
from sdstudio.engine.vae import VaeCache, with_vae
from sdstudio.errors import InputError

COND_CACHE_TEXTS = 32  # encoded texts kept across jobs (a prompt and its negative are two; an edit adds its texts)

StepListener = Callable[[StepEvent], None]
LoadListener = Callable[[LoadEvent], None]
ImageListener = Callable[[GeneratedImage], None]


@dataclass
class Start:
    """Where a generation starts when it is not simply "noise from the seed": latent exploration.

    noise: replaces the seed's initial noise (seed walks slerp between two seeds' noises).
    cond: replaces the prompt's embeddings (prompt walks lerp between two prompts').
    init_latent: img2img from a latent rather than an image, at `request.strength` (refined
        interpolation denoises an in-between latent so it looks like an image, not a cross-fade).
    resume_latent/resume_step: continue a kept trajectory after step k ("branch from here").
    """

    noise: torch.Tensor | None = None
    cond: Conditioning | None = None
    init_latent: torch.Tensor | None = None
    resume_latent: torch.Tensor | None = None
    resume_step: int = 0


class Engine:
    """Loads models on demand (one at a time) and generates images from requests."""

    long_job_seconds = LONG_JOB_SECONDS  # a job estimated to run longer gets a warning in its step events

    def __init__(self, device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        keep_freed_memory()  # the entry points do this first; here for the engine used as a library
        self._device = device
        self._dtype = dtype
        self._model: LoadedModel | None = None
        self._model_path: str | None = None
        self._model_info = None  # the ModelInfo the current model came from (None: in memory, from use())
        self._cond_cache: dict[tuple, Encoded] = {}  # one entry per encoded text (conditioning.encode_schedule)
        self._prompting: PromptEncoder | None = None  # the current model's LoRA adapters and embeddings
        self._vaes = VaeCache()  # VAE overrides by file, kept across jobs
        self._step_rates = StepRates()  # per model: how fast a step runs here (for long-job warnings)

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    @property
    def device_name(self) -> str:
        if self._model is None:
            return str(self._device or "auto")
        return f"{self._model.device.type} {str(self._model.dtype).removeprefix('torch.')}"

    def models(self) -> list:
        from sdstudio.engine.models import discover_models

        return discover_models()

    def use(self, model: LoadedModel) -> None:
        """Make an already-loaded model the current one (scripts, training previews, tests)."""
        self._model, self._model_path, self._model_info = model, f"<in memory: {model.name}>", None
        self._cond_cache.clear()

    def load(self, model: str = "", on_load: LoadListener | None = None) -> LoadedModel:
        """The model named, loading it unless it is the current one. "" means the current model,
        or the default one (the built-in model) when none is loaded yet.

        A failed load keeps the current model: one that came from disk is freed first (two full
        models may not fit in memory) and reloaded if the new one fails; one given through use()
        cannot be reloaded, so it stays in memory during the attempt."""
        if not model and self._model is not None:
            return self._model
        from sdstudio.engine.models import load_model, resolve_model

        info = resolve_model(model)
        key = str(info.path.resolve())
        if self._model is not None and self._model_path == key:
            return self._model
        previous = self._model_info
        if previous is not None:
            self._model = None
            self._cond_cache.clear()
        try:
            loaded = load_model(info, self._device, self._dtype, on_progress=on_load)
        except Exception:
            if previous is not None:
                self._restore(previous, on_load)
            raise
        self._model, self._model_path, self._model_info = loaded, key, info
        self._cond_cache.clear()
        return loaded

    def _restore(self, info, on_load: LoadListener | None) -> None:
        """Reload the model a failed load replaced; if even that fails (its file is gone), none is current."""
        from sdstudio.engine.models import load_model

        try:
            self._model = load_model(info, self._device, self._dtype, on_progress=on_load)
        except Exception:
            self._model, self._model_path, self._model_info = None, None, None

    def prompt_encoder(self) -> PromptEncoder:
        """The current model's LoRA adapters and embedding words, kept across jobs (a new model, new ones)."""
        if self._prompting is None or self._prompting.model is not self._model:
            self._prompting = PromptEncoder(self._model)
        return self._prompting

    def conditioning(self, prompt: str, negative: str, clip_skip: int = 1) -> Conditioning:
        """Prompt embeddings of the prompts as written (no step schedule: prompt walks blend these), cached."""
        return self.conditioning_schedule(prompt, negative, clip_skip, None).at(0)

    def conditioning_schedule(
        self, prompt: str, negative: str, clip_skip: int, steps: int | None, hires_steps: int | None = None
    ) -> CondSchedule:
        """A sampling pass's embeddings per sampler call, cached: re-running a prompt (new seed, new
        sampler, hires fix's second pass) skips CLIP, and each text of an edit or alternation is
        encoded once. Entries belong to a (prompt, negative) pair, as a job's did before schedules.

        `steps`/`hires_steps` are A1111's timeline (`prompt_schedule`). Activates the prompt's
        `<lora:...>` tags on the model first, cached or not: they act on the UNet of the job that
        follows too. The key holds clip skip, LoRA files and weights and the embedding files, so
        changing any of them encodes again."""
        return self._schedules(prompt, negative, clip_skip, [(steps, hires_steps)])[0]

    def _schedules(
        self, prompt: str, negative: str, clip_skip: int, timelines: list[tuple[int | None, int | None]]
    ) -> list[CondSchedule]:
        """One schedule per (steps, hires_steps) timeline, the LoRAs activated once for all."""
        encoder = self.prompt_encoder()
        context = (prompt, negative, *encoder.prepare(prompt))
        cache = self._cond_cache
        schedules = [encoder.schedule(prompt, negative, clip_skip, *timeline, cache, context) for timeline in timelines]
        while len(cache) > COND_CACHE_TEXTS:
            cache.pop(next(iter(cache)))
        return schedules

    def _job_conditioning(
        self, model: LoadedModel, request: GenerationRequest, start: Start
    ) -> tuple[CondSchedule, CondSchedule | None]:
        """The first pass's and hires fix's second pass's conditioning schedules.

        A1111's timelines, in sampler calls (its `total_steps`: a second-order sampler such as Heun
        calls the model twice a step): the first pass over `steps`, the second over the hires steps
        continuing it. img2img and inpaint are scheduled, as in A1111, over the full `steps`,
        counted from the first step actually run: with denoise 0.5, `[cat:dog:0.5]` stays "cat" for
        every step that runs. A walk's given embeddings (`start.cond`) are used for every step."""
        if start.cond is not None:
            constant = CondSchedule.constant(start.cond)
            return constant, constant
        order = getattr(make_scheduler(request.sampler, model.scheduler_config), "order", 1)
        first = (request.steps * order, None)
        prompts, skip = (request.prompt, request.negative_prompt), request.clip_skip
        if request.hires is None:
            return self._schedules(*prompts, skip, [first])[0], None
        second = (request.steps * order, hires.hires_steps(request) * order)
        if request.hires.prompts(request) == prompts:
            cond, hires_cond = self._schedules(*prompts, skip, [first, second])
            return cond, hires_cond
        # A1111's hires prompt: the second pass's own texts (and LoRAs); the first pass's LoRAs are
        # activated last, so they are the ones in force when the job starts
        (hires_cond,) = self._schedules(*request.hires.prompts(request), skip, [second])
        (cond,) = self._schedules(*prompts, skip, [first])
        return cond, hires_cond

    def _switch_loras(self, request: GenerationRequest, prompt: str) -> None:
        """Between hires fix's passes, when its hires prompt names other LoRAs than the prompt."""
        assert request.hires is not None
        ours, theirs = (tuple((t.name, t.te_weight, t.unet_weight) for t in parse_prompt(text).loras)
                        for text in (request.prompt, request.hires.prompts(request)[0]))
        if ours != theirs:
            self.prompt_encoder().prepare(prompt)

    def generate(
        self,
        request: GenerationRequest,
        on_step: StepListener | None = None,
        cancel: threading.Event | None = None,
        on_load: LoadListener | None = None,
        start: Start | None = None,
        on_image: ImageListener | None = None,
    ) -> GenerationResult:
        """Run a job: `batch_count` images with seeds seed, seed+1, ...; raises Cancelled if cancelled.

        `on_image` gets each image right after it is decoded, before the next one starts, so a
        caller saves it at once: a cancel (or a kill) later in the batch loses none of the
        finished ones."""
        request = request.validated()
        started = time.perf_counter()
        model = with_vae(self.load(request.model, on_load), request.vae, self._vaes)  # this job's VAE
        clock = JobClock.for_job(request, model, self.device_name, self._step_rates, self.long_job_seconds)
        on_step = clock.watch(on_step)
        start = start or Start()
        cond, hires_cond = self._job_conditioning(model, request, start)
        images = []
        for index in range(request.batch_count):
            single = request.with_seed(request.seed + index)
            image_started = time.perf_counter()
            image, state = self._generate_one(model, single, (cond, hires_cond), index, started, on_step, cancel, start)
            images.append(
                GeneratedImage(
                    image=image,
                    seed=single.seed,
                    request=single,
                    model_name=model.name,
                    elapsed=time.perf_counter() - image_started,
                    trajectory=state.trajectory,
                    denoised=state.denoised,
                )
            )
            if on_image is not None:
                on_image(images[-1])
        return GenerationResult(images=images, elapsed=time.perf_counter() - started, device=self.device_name)

    def _generate_one(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        conds: tuple[CondSchedule, CondSchedule | None],
        index: int,
        started: float,
        on_step: StepListener | None,
        cancel: threading.Event | None,
        start: Start,
    ) -> tuple[Image.Image, LoopState]:
        size = (request.width, request.height)
        generator = torch.Generator("cpu").manual_seed(request.seed)
        scheduler = make_scheduler(request.sampler, model.scheduler_config)
        state, init_image = self._prepare(model, request, scheduler, generator, start)

        callback = None
        if on_step is not None:

            def emit(step: int, total: int, elapsed: float, preview: object) -> None:
                on_step(StepEvent(index, step, total, elapsed, preview))

            callback = preview_callback(model, started, emit, request.previews)
        second = hires.plan(model, request) if request.hires is not None else None
        total = len(state.timesteps) + (second.step_count if second is not None else 0)  # both passes: one bar
        cond, hires_cond = conds
        latents = denoise(
            model,
            scheduler,
            cond,
            state,
            request.cfg_scale,
            size,
            generator,
            hires.shifted(callback, 0, total),
            cancel,
            request.keep_trajectory,
        )
        if second is not None and request.hires is not None:
            later = hires.shifted(callback, len(state.timesteps), total)
            self._switch_loras(request, request.hires.prompts(request)[0])
            try:
                latents = hires.second_pass(model, second, hires_cond, latents, request.cfg_scale, generator, later,
                                            cancel)
            finally:
                self._switch_loras(request, request.prompt)  # the next image's first pass
        image = decode(model.vae, latents)[0]
        if request.mode is Mode.INPAINT:
            image = inpaint.paste_back(init_image, image, self._sized_mask(request), request.mask_feather)
        return image, state

    def _prepare(
        self, model: LoadedModel, request: GenerationRequest, scheduler, generator: torch.Generator, start: Start
    ) -> tuple[LoopState, Image.Image | None]:
        """Starting latents and timesteps for the request's mode (or the exploration's start)."""
        noise = initial_noise(model, request.width, request.height, generator)
        if start.noise is not None:
            noise = start.noise.to(model.device, model.dtype)
        if start.resume_latent is not None:
            return self._prepare_resume(model, request, scheduler, start), None
        if start.init_latent is not None:
            timesteps, _ = schedule(scheduler, request.steps, request.strength, model.device)
            latent = start.init_latent.to(model.device, model.dtype)
            if request.strength < 1.0:
                return LoopState(scheduler.add_noise(latent, noise, timesteps[:1]), timesteps), None
            return LoopState(noise * scheduler.init_noise_sigma, timesteps), None
        mode = request.mode
        if mode is Mode.INPAINT and model.is_inpainting:
            return self._prepare_inpainting_model(model, request, scheduler, noise)
        if mode is Mode.TXT2IMG:
            if model.is_inpainting:
                raise InputError(f"'{model.name}' is an inpainting model: give it an image and a mask")
            timesteps, _ = schedule(scheduler, request.steps, 1.0, model.device)
            return LoopState(noise * scheduler.init_noise_sigma, timesteps), None

        init_image = self._sized_image(request)
        init_latent = encode(model.vae, init_image).to(model.dtype)
        timesteps, _ = schedule(scheduler, request.steps, request.strength, model.device)
        if request.strength >= 1.0:
            latents = noise * scheduler.init_noise_sigma
        else:
            latents = scheduler.add_noise(init_latent, noise, timesteps[:1])
        state = LoopState(latents, timesteps)
        if mode is Mode.INPAINT:
            state.init_latent, state.noise = init_latent, noise
            state.mask = inpaint.latent_mask(self._sized_mask(request), tuple(noise.shape[-2:])).to(
                model.device, model.dtype
            )
        return state, init_image

    def _prepare_inpainting_model(
        self, model: LoadedModel, request: GenerationRequest, scheduler, noise: torch.Tensor
    ) -> tuple[LoopState, Image.Image]:
        """9-channel models: extra input = [mask, latent of the masked image] (Rombach et al. 2022)."""
        init_image, mask = self._sized_image(request), self._sized_mask(request)
        timesteps, _ = schedule(scheduler, request.steps, request.strength, model.device)
        masked_latent = encode_tensor(model.vae, inpaint.masked_image(init_image, mask)).to(model.dtype)
        latent_mask = inpaint.latent_mask(mask, tuple(noise.shape[-2:])).to(model.device, model.dtype)
        if request.strength >= 1.0:
            latents = noise * scheduler.init_noise_sigma
        else:
            latents = scheduler.add_noise(encode(model.vae, init_image).to(model.dtype), noise, timesteps[:1])
        state = LoopState(latents, timesteps, extra_channels=torch.cat([latent_mask, masked_latent], dim=1))
        return state, init_image

    @staticmethod
    def _prepare_resume(model: LoadedModel, request: GenerationRequest, scheduler, start: Start) -> LoopState:
        """The rest of a schedule after step k, from the latent the loop had then."""
        scheduler.set_timesteps(request.steps, device=model.device)
        begin = start.resume_step * scheduler.order
        if not 0 < start.resume_step < request.steps:
            raise InputError(f"can only branch after step 1..{request.steps - 1}, not {start.resume_step}")
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        latents = start.resume_latent.to(model.device, model.dtype)
        return LoopState(latents, scheduler.timesteps[begin:], first_step=begin)  # the prompt schedule goes on

    @staticmethod
    def _sized_image(request: GenerationRequest) -> Image.Image:
        image = request.init_image.convert("RGB")
        if image.size != (request.width, request.height):
            image = image.resize((request.width, request.height), Image.Resampling.LANCZOS)
        return image

    @staticmethod
    def _sized_mask(request: GenerationRequest) -> Image.Image:
        mask = request.mask_image.convert("L")
        if mask.size != (request.width, request.height):
            mask = mask.resize((request.width, request.height), Image.Resampling.BILINEAR)
        return mask

    def with_vae(self, model: str = "", vae: str = "") -> LoadedModel:
        """The model named (or the current one) with the VAE named ("" its own), as a job that asks
        for that VAE sees it: what its latents are encoded and decoded with."""
        return with_vae(self.load(model), vae, self._vaes)

    def encode_image(self, image: Image.Image, model: str = "", vae: str = "") -> torch.Tensor:
        """An image's VAE latent with the given (or current) model and VAE."""
        loaded = self.with_vae(model, vae)
        return encode(loaded.vae, image.convert("RGB")).to(loaded.dtype)

    def decode_latents(self, latents: torch.Tensor, model: str = "", vae: str = "") -> list[Image.Image]:
        return decode(self.with_vae(model, vae).vae, latents)
