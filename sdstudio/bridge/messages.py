"""What a job reports while it runs and gives back when it ends (frozen dataclasses, Qt images).

Everything here may cross from the engine thread to the GUI thread: images are `QImage`s that
own their pixels (never `QPixmap`), and requests are the engine's plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PySide6.QtGui import QImage

from sdstudio.engine.requests import GenerationRequest


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    elapsed: float  # seconds since the job started running
    warning: str = ""  # once per job, e.g. that it will take very long on this device


@dataclass(frozen=True)
class PreviewFrame:
    job_id: int
    image_index: int
    step: int
    total_steps: int
    elapsed: float
    image: QImage | None  # latent-sized (or the server's preview size): scale to show


@dataclass(frozen=True)
class SavedImage:
    """One finished image, already on disk with its metadata when this is announced."""

    path: Path
    image: QImage
    request: GenerationRequest
    parameters: str
    seed: int
    elapsed: float


@dataclass(frozen=True)
class JobResult:
    """A generation's outcome: every saved image, in batch order."""

    job_id: int
    images: list[SavedImage]
    elapsed: float
    device: str
    model: str


@dataclass(frozen=True)
class ModelLoaded:
    """The result of a load job (and what `Backend.model_ready` reports)."""

    job_id: int
    name: str
    device: str


# --- latent exploration results --------------------------------------------------------------


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
