"""What a job asks for and what it gives back: the one source of truth for generation parameters.

The CLI flags, the UI controls and the PNG metadata all map to and from `GenerationRequest`.
Images travel as PIL images so that the UI side needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from PIL import Image

from sdstudio.errors import InputError

# Sampler names users know (A1111's spelling). sdstudio.engine.samplers maps each to a diffusers
# scheduler; the list lives here so that the UI and the CLI can offer it without importing torch.
SAMPLER_NAMES: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "Heun",
    "LMS",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Karras",
    "DDIM",
    "PNDM",
    "UniPC",
    "LCM",
)


def canonical_sampler(name: str) -> str:
    """The canonical spelling of a sampler name, matched case- and space-insensitively."""
    key = "".join(name.lower().split())
    for known in SAMPLER_NAMES:
        if "".join(known.lower().split()) == key:
            return known
    raise InputError(f"unknown sampler '{name}'; choose one of: {', '.join(SAMPLER_NAMES)}")


class Upscaler(StrEnum):
    """How hires fix enlarges the first pass: in latent space (bicubic) or in pixels (Lanczos)."""

    LATENT = "latent"
    LANCZOS = "lanczos"


@dataclass(frozen=True)
class HiresFix:
    """A1111's hires fix: generate at the base size, upscale by `scale`, then img2img at `denoise`
    for `steps` steps (0 = the base job's step count), with A1111's "Hires prompt" and "Hires
    negative prompt" when given ("" = the job's own, as in A1111)."""

    scale: float = 2.0
    steps: int = 0
    denoise: float = 0.5
    upscaler: Upscaler = Upscaler.LATENT
    prompt: str = ""
    negative_prompt: str = ""

    def prompts(self, request: GenerationRequest) -> tuple[str, str]:
        """The second pass's (prompt, negative prompt)."""
        return self.prompt or request.prompt, self.negative_prompt or request.negative_prompt


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Hires fix's final size: base * scale, floored to a multiple of 8 as A1111 does (so a restored
    A1111 image comes out at the size it states)."""
    return max(8, int(width * scale) // 8 * 8), max(8, int(height * scale) // 8 * 8)


def _checked_hires(hires: HiresFix, request: GenerationRequest) -> HiresFix:
    """The hires settings with a canonical upscaler, or InputError naming the value to fix."""
    try:
        upscaler = Upscaler(str(hires.upscaler).lower())
    except ValueError:
        raise InputError(f"unknown hires upscaler '{hires.upscaler}'; choose latent or lanczos") from None
    if request.init_image is not None:
        raise InputError("hires fix is for text to image; turn it off for img2img, inpaint and outpaint")
    if not 1.0 <= hires.scale <= 4.0:
        raise InputError(f"hires scale must be between 1 and 4, not {hires.scale:g}")
    if not 0 <= hires.steps <= 1000:
        raise InputError(f"hires steps must be between 0 (= the base steps) and 1000, not {hires.steps}")
    if not 0.0 < hires.denoise <= 1.0:
        raise InputError(f"hires denoise must be in (0, 1], not {hires.denoise:g}")
    width, height = hires_size(request.width, request.height, hires.scale)
    if width * height > 4096 * 4096:
        raise InputError(f"hires size {width}x{height} is too large; at most 4096x4096 (lower the hires scale)")
    return replace(hires, upscaler=upscaler)


class Mode(StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


@dataclass(frozen=True)
class GenerationRequest:
    """One generation job. `batch_count` images are made one after another with seeds seed, seed+1, ..."""

    prompt: str
    negative_prompt: str = ""
    model: str = ""  # a model name from discovery or a path; "" means the default model
    sampler: str = "Euler a"
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = 0
    width: int = 512
    height: int = 512
    batch_count: int = 1
    strength: float = 0.75  # img2img / inpaint: how much of the init image is re-imagined (0..1)
    init_image: Image.Image | None = field(default=None, repr=False, compare=False)
    mask_image: Image.Image | None = field(default=None, repr=False, compare=False)  # white = repaint
    mask_feather: int = 8  # pixels of blur on the mask edge when pasting the original back
    previews: bool = True  # compute a cheap preview image at every step
    keep_trajectory: bool = False  # keep the per-step latents (for the trajectory scrubber)
    clip_skip: int = 1  # A1111's meaning: 1 = last CLIP layer, 2 = penultimate (through the final layer norm)
    vae: str = ""  # a VAE name from discovery or a path; "" means the model's own
    hires: HiresFix | None = None  # hires fix for txt2img; None = off

    @property
    def mode(self) -> Mode:
        if self.init_image is None:
            return Mode.TXT2IMG
        return Mode.INPAINT if self.mask_image is not None else Mode.IMG2IMG

    def validated(self) -> GenerationRequest:
        """This request with a canonical sampler name, or InputError saying what to fix."""
        for name, value in (("width", self.width), ("height", self.height)):
            if value <= 0 or value % 8:
                lower = max(8, value - value % 8)
                raise InputError(f"{name} {value} is not a positive multiple of 8; try {lower} or {lower + 8}")
        if self.width * self.height > 4096 * 4096:
            raise InputError(f"size {self.width}x{self.height} is too large; at most 4096x4096")
        if self.steps < 1 or self.steps > 1000:
            raise InputError(f"steps must be between 1 and 1000, not {self.steps}")
        if self.batch_count < 1:
            raise InputError(f"batch count must be at least 1, not {self.batch_count}")
        if not 0.0 <= self.cfg_scale <= 100.0:
            raise InputError(f"CFG scale must be between 0 and 100, not {self.cfg_scale}")
        if self.init_image is not None and not 0.0 < self.strength <= 1.0:
            raise InputError(f"strength must be in (0, 1], not {self.strength}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be between 0 and 2^63-1, not {self.seed}")
        if self.seed + self.batch_count > 2**63:  # refused, not wrapped: every written seed must reproduce its image
            raise InputError(f"a batch of {self.batch_count} from seed {self.seed} would pass the largest seed, "
                             f"2^63-1; use a seed of at most {2**63 - self.batch_count}")
        for name, text in (("prompt", self.prompt), ("negative prompt", self.negative_prompt)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:  # lone surrogates: argv bytes that were not UTF-8
                raise InputError(f"the {name} is not valid UTF-8 text (undecodable byte at position {error.start}); "
                                 "check the terminal's encoding") from error
        if self.mask_image is not None and self.init_image is None:
            raise InputError("a mask needs an image to inpaint")
        hires = self.hires
        if hires is not None:
            hires = _checked_hires(hires, self)
        return replace(self, sampler=canonical_sampler(self.sampler), hires=hires)

    def with_seed(self, seed: int) -> GenerationRequest:
        return replace(self, seed=seed, batch_count=1)


@dataclass(frozen=True)
class StepEvent:
    """Sent after every denoising step: where we are, and what the image looks like so far.

    `warning` is set once per job, on the first event that shows the job will run very long on
    this device (a person should hear that before waiting an hour). A job whose length is known
    before it starts (the engine has timed this model at another size) gets it in an extra event
    with step 0, sent before the first step; that is the only event with step 0."""

    image_index: int  # which image of the batch (0-based)
    step: int  # 1-based step just finished (0: the job has not started its first step)
    total_steps: int
    elapsed: float  # seconds since the job started
    preview: Image.Image | None = field(default=None, repr=False, compare=False)  # latent-sized: scale to show
    remaining: float | None = None  # estimated seconds left in the whole job (all images); None: not known yet
    warning: str = ""  # one line for a person, e.g. that the job will take very long here


@dataclass(frozen=True)
class LoadEvent:
    """Progress of loading a model (the UI shows it while the first job waits)."""

    model: str
    stage: str  # e.g. "reading checkpoint", "building unet", "ready"
    fraction: float  # 0..1


@dataclass
class GeneratedImage:
    image: Image.Image
    seed: int
    request: GenerationRequest  # with this image's own seed and batch_count 1
    model_name: str
    elapsed: float
    trajectory: list = field(default_factory=list, repr=False)  # per-step latents, if asked for
    denoised: list = field(default_factory=list, repr=False)  # per-step x0 estimates, with the trajectory


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    elapsed: float
    device: str
