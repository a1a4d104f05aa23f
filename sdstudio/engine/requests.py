"""What a job asks for and what it gives back: the one source of truth for generation parameters.

The CLI flags, the UI controls and the PNG metadata all map to and from `GenerationRequest`.
Images travel as PIL images so that the UI side needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from PIL import Image


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

    @property
    def mode(self) -> Mode:
        if self.init_image is None:
            return Mode.TXT2IMG
        return Mode.INPAINT if self.mask_image is not None else Mode.IMG2IMG

    def with_seed(self, seed: int) -> GenerationRequest:
        return replace(self, seed=seed, batch_count=1)


@dataclass(frozen=True)
class StepEvent:
    """Sent after every denoising step: where we are, and what the image looks like so far."""

    image_index: int  # which image of the batch (0-based)
    step: int  # 1-based step just finished
    total_steps: int
    elapsed: float  # seconds since the job started
    preview: Image.Image | None = field(default=None, repr=False, compare=False)


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


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    elapsed: float
    device: str
