"""The observable generation model: every parameter of the next generation, and nothing else.

Widget-free (Krita AI Diffusion's `Model` is the example): the controls bind to its properties,
the settings store saves the persisted ones, and `request()` is the one place a
`GenerationRequest` is built in the UI. Restoring an image's parameters (`apply_request`) is the
inverse mapping; it shows the image's seed but leaves the seed lock as the user set it, so the
next Generate still makes a new image unless the user locks the seed.
"""

from __future__ import annotations

import random

from PIL import Image

from sdstudio.engine.requests import SAMPLER_NAMES, GenerationRequest, HiresFix, Mode, Upscaler
from sdstudio.ui.properties import ObservableObject, Property

MAX_SEED = 2**63 - 1
MAX_STEPS = 150
MAX_CFG = 30.0
MAX_CLIP_SKIP = 12
FEATHER_AT_512 = 8
"""The mask feather (px) at 512 px; smaller images get proportionally less, so the soft edge of a
64-px inpaint stays within a pixel or two of the painted mask instead of 12-14 px past it."""


def random_seed() -> int:
    """A 32-bit seed, as A1111 makes them: short enough to read out and type back."""
    return random.randrange(2**32)


def feather_for(width: int, height: int) -> int:
    """The paste-back feather for an image this size: 8 px at 512 and above, 1 px at 64."""
    return max(1, min(FEATHER_AT_512, round(min(width, height) * FEATHER_AT_512 / 512)))


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class GenerationModel(ObservableObject):
    """The parameters of the next generation; property names match `GenerationRequest`'s fields
    (and the keys of the settings file, which predates this class)."""

    prompt = Property("")
    negative_prompt = Property("")
    model = Property("")  # a model path (or name); "" = the built-in/default model
    sampler = Property("Euler a")
    steps = Property(20)
    cfg_scale = Property(7.0)
    strength = Property(0.75)
    width = Property(512)
    height = Property(512)
    size_follows_model = Property(True)  # the "Model default" size preset
    seed = Property(0)
    seed_locked = Property(False)
    batch_count = Property(1)
    clip_skip = Property(1)
    vae = Property("")  # a VAE name or path; "" = the model's own
    hires_enabled = Property(False)
    hires_scale = Property(2.0)
    hires_steps = Property(0)  # 0 = as many as the base pass
    hires_denoise = Property(0.5)
    hires_upscaler = Property(Upscaler.LATENT.value)
    hires_prompt = Property("")  # A1111's Hires prompt; "" = the prompt
    hires_negative = Property("")
    fit_policy = Property("auto")  # how an opened image is brought to a multiple of 8

    # ---- derived values -------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def set_size(self, width: int, height: int, follows_model: bool = False) -> None:
        """Set the txt2img size; `follows_model` is the "Model default" preset."""
        self.size_follows_model = follows_model
        self.width, self.height = width, height

    @property
    def hires(self) -> HiresFix | None:
        if not self.hires_enabled:
            return None
        return HiresFix(scale=self.hires_scale, steps=self.hires_steps, denoise=self.hires_denoise,
                        upscaler=Upscaler(self.hires_upscaler), prompt=self.hires_prompt,
                        negative_prompt=self.hires_negative)

    def next_seed(self) -> int:
        """The seed for the next job: as shown when locked, else a fresh random one (shown at once)."""
        if not self.seed_locked:
            self.seed = random_seed()
        return self.seed

    # ---- request <-> model ----------------------------------------------------------------------

    def request(self, init_image: Image.Image | None = None, mask: Image.Image | None = None) -> GenerationRequest:
        """The request these parameters describe, seed as shown (call `next_seed()` first for a job).

        With an init image the output takes the image's size and hires fix is off (it is a
        txt2img pass); the mask feather scales with the output size.
        """
        width, height = init_image.size if init_image is not None else self.size
        return GenerationRequest(
            prompt=self.prompt.strip(),
            negative_prompt=self.negative_prompt.strip(),
            model=self.model,
            sampler=self.sampler,
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            seed=self.seed,
            width=width,
            height=height,
            batch_count=self.batch_count,
            strength=self.strength,
            init_image=init_image,
            mask_image=mask if init_image is not None else None,
            mask_feather=feather_for(width, height),
            clip_skip=self.clip_skip,
            vae=self.vae,
            hires=self.hires if init_image is None else None,
        )

    def apply_request(self, request: GenerationRequest) -> None:
        """Show the parameters a past image was made with (its seed too), clamped to what the
        controls offer. The seed lock, the model and the VAE choice are the user's and stay."""
        self.prompt, self.negative_prompt = request.prompt, request.negative_prompt
        if request.sampler in SAMPLER_NAMES:
            self.sampler = request.sampler
        self.steps = int(_clamp(request.steps, 1, MAX_STEPS))
        self.cfg_scale = _clamp(float(request.cfg_scale), 0.0, MAX_CFG)
        self.strength = _clamp(float(request.strength), 0.01, 1.0)
        self.seed = int(_clamp(int(request.seed), 0, MAX_SEED))
        self.clip_skip = int(_clamp(request.clip_skip, 1, MAX_CLIP_SKIP))
        if request.mode is Mode.TXT2IMG and request.width % 8 == 0 and request.height % 8 == 0:
            self.set_size(request.width, request.height)
        hires = request.hires
        self.hires_enabled = hires is not None
        if hires is not None:
            self.hires_scale = _clamp(float(hires.scale), 1.0, 4.0)
            self.hires_steps = int(_clamp(hires.steps, 0, MAX_STEPS))
            self.hires_denoise = _clamp(float(hires.denoise), 0.01, 1.0)
            upscaler = str(hires.upscaler).lower()
            self.hires_upscaler = upscaler if upscaler in set(Upscaler) else Upscaler.LATENT.value
        self.hires_prompt = hires.prompt if hires is not None else ""
        self.hires_negative = hires.negative_prompt if hires is not None else ""
