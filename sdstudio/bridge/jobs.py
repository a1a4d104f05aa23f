"""Typed job requests, one frozen dataclass per job kind: what the UI or CLI hands a backend.

Each class names its `kind`; a backend dispatches on it in one place. Fields replace the old
`payload` dicts, so a misspelt parameter is an error where it is written, not a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from sdstudio.engine.requests import GenerationRequest

INTERPOLATION_SET = "interpolate"
PLANE_SET = "plane"
QUALITIES = ("cheap", "full", "refined")
WALK_KINDS = ("latent", "refined", "seed_prompt")
EXPORT_FORMATS = ("gif", "webp", "mp4", "png")


class JobKind(StrEnum):
    GENERATE = "generate"  # txt2img / img2img / inpaint batch -> JobResult
    LOAD = "load"  # load a model ahead of the first job -> ModelLoaded
    ENCODE = "explore.encode"  # images -> cached latents of a named set -> EncodedSet
    BLEND = "explore.blend"  # a point between A and B of a set -> BlendFrame
    PLANE = "explore.plane"  # a point on the pad of 3-4 corner latents -> PlaneFrame
    WALK = "explore.walk"  # N frames of a walk, optionally written to a file or folder -> WalkResult
    TRAJECTORY = "explore.trajectory"  # a generation with its trajectory kept -> TrajectoryResult
    STEP = "explore.step"  # the full decode of one kept x0 estimate -> StepFrame
    BRANCH = "explore.branch"  # resume a kept trajectory after step k -> TrajectoryResult


@dataclass(frozen=True)
class GenerateJob:
    kind: ClassVar[JobKind] = JobKind.GENERATE
    request: GenerationRequest

    def describe(self) -> str:
        request = self.request
        count = f"{request.batch_count} x " if request.batch_count > 1 else ""
        return f"{count}{request.mode.value} {request.width}x{request.height} '{request.prompt[:40]}'"


@dataclass(frozen=True)
class LoadJob:
    kind: ClassVar[JobKind] = JobKind.LOAD
    model: str = ""

    def describe(self) -> str:
        return f"load {Path(self.model).name or 'default model'}"


@dataclass(frozen=True)
class EncodeJob:
    """Fit `images` (QImage, PIL image or path, in order) to one size and encode them as set `key`."""

    kind: ClassVar[JobKind] = JobKind.ENCODE
    images: tuple[Any, ...]
    key: str = INTERPOLATION_SET
    model: str = ""
    size: tuple[int, int] | None = None
    vae: str = ""  # a VAE name or path ("" the model's own): the set is encoded and decoded with it

    def describe(self) -> str:
        return f"encode {len(self.images)} images"


@dataclass(frozen=True)
class BlendJob:
    kind: ClassVar[JobKind] = JobKind.BLEND
    t: float
    mode: str = "slerp"
    quality: str = "full"
    key: str = INTERPOLATION_SET
    model: str | None = None  # None: the model the set was encoded with
    refine: GenerationRequest | None = None
    vae: str | None = None  # None: the VAE the set was encoded with; another one encodes it again

    def describe(self) -> str:
        return f"blend at t={self.t:.2f}"


@dataclass(frozen=True)
class PlaneJob:
    kind: ClassVar[JobKind] = JobKind.PLANE
    x: float
    y: float
    quality: str = "full"
    key: str = PLANE_SET
    model: str | None = None
    refine: GenerationRequest | None = None
    vae: str | None = None  # as BlendJob's

    def describe(self) -> str:
        return f"plane point ({self.x:.2f}, {self.y:.2f})"


@dataclass(frozen=True)
class WalkJob:
    """A walk's frames: between the set's A and B latents (latent/refined) or between two
    generations (seed_prompt: `start` and `end`), written to `path` when given."""

    kind: ClassVar[JobKind] = JobKind.WALK
    walk: str = "latent"
    frames: int = 16
    mode: str = "slerp"
    key: str = INTERPOLATION_SET
    model: str | None = None
    refine: GenerationRequest | None = None
    vae: str | None = None  # as BlendJob's (a seed/prompt walk uses its requests' VAE)
    pacing: str = "even"  # even | uniform
    start: GenerationRequest | None = None
    end: GenerationRequest | None = None
    path: Path | None = None
    format: str = "gif"
    fps: float = 12.0

    def describe(self) -> str:
        return f"{self.walk} walk, {self.frames} frames"


@dataclass(frozen=True)
class TrajectoryJob:
    kind: ClassVar[JobKind] = JobKind.TRAJECTORY
    request: GenerationRequest

    def describe(self) -> str:
        return f"trajectory '{self.request.prompt[:40]}'"


@dataclass(frozen=True)
class StepJob:
    kind: ClassVar[JobKind] = JobKind.STEP
    trajectory_id: int
    step: int

    def describe(self) -> str:
        return f"decode step {self.step}"


@dataclass(frozen=True)
class BranchJob:
    kind: ClassVar[JobKind] = JobKind.BRANCH
    trajectory_id: int
    step: int
    prompt: str | None = None  # None: unchanged
    seed: int | None = None

    def describe(self) -> str:
        return f"branch after step {self.step}"


Job = GenerateJob | LoadJob | EncodeJob | BlendJob | PlaneJob | WalkJob | TrajectoryJob | StepJob | BranchJob
JOB_TYPES: dict[JobKind, type] = {cls.kind: cls for cls in Job.__args__}  # type: ignore[attr-defined]
