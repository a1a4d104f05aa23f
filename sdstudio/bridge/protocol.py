"""The `Backend` protocol: what the UI and the CLI need of whatever generates images.

The local engine thread is one implementation, a ComfyUI server another. The UI never asks which
backend it has: it asks for capabilities, and greys out what is absent with the reason given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sdstudio.bridge.handle import JobHandle


class Capability(StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    PREVIEWS = "previews"  # per-step previews
    LATENT_BLEND = "latent_blend"  # encode/blend/plane of VAE latents
    WALK = "walk"  # walk export (latent, refined, seed+prompt)
    TRAJECTORY = "trajectory"  # per-step latents kept: scrub and branch
    LORA = "lora"
    EMBEDDINGS = "embeddings"
    HIRES = "hires"
    CLIP_SKIP = "clip_skip"
    VAE = "vae"  # a VAE other than the model's own
    MODEL_FOLDERS = "model_folders"  # models are files on this computer (add folder, rescan)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; for each absent capability, one line saying why."""

    available: frozenset[Capability]
    reasons: Mapping[Capability, str] = field(default_factory=dict)

    def has(self, capability: Capability) -> bool:
        return capability in self.available

    def reason(self, capability: Capability) -> str:
        """Why `capability` is absent ("" when it is there): the tooltip of a greyed-out control."""
        if capability in self.available:
            return ""
        return self.reasons.get(capability, f"not available on this backend ({capability.value})")

    @classmethod
    def everything(cls) -> Capabilities:
        return cls(frozenset(Capability))


@dataclass(frozen=True)
class ModelEntry:
    """A model a backend can use: `name` is what a request's `model` field takes."""

    name: str
    kind: str  # diffusers | single-file | builtin | comfyui | ...
    location: str  # a path, or a server URL
    path: Path | None = None  # on this computer, when it is a file or folder here


@runtime_checkable
class Backend(Protocol):
    """Also a QObject with the signals `status_changed(str)`, `model_loading(LoadEvent)`,
    `model_ready(str name, str device)`, `models_changed()`."""

    name: str

    @property
    def capabilities(self) -> Capabilities: ...

    def models(self) -> list[ModelEntry]: ...

    def samplers(self) -> tuple[str, ...]: ...

    def networks(self, kind: str) -> list[str] | None:
        """The LoRA, embedding or VAE names ("lora", "embedding", "vae") the backend has, or None when
        they are this computer's files (the UI scans the model folders itself)."""
        ...

    def refresh(self) -> None:
        """Look again for models, LoRAs, embeddings and VAEs; `models_changed` once done."""
        ...

    async def network_metadata(self, kind: str, name: str) -> dict[str, str]:
        """A LoRA's or embedding's own metadata, for a backend whose files are not on this computer."""
        ...

    def submit(self, job: Any) -> JobHandle: ...

    def close(self, timeout: float = 2.0) -> bool: ...
