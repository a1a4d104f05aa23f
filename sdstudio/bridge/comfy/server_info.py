"""What a server offers, read from `/object_info` and `/system_stats`.

`/object_info` lists every node with its inputs; a choice input ("COMBO") comes in two shapes:
`[["a", "b"], {...}]` (ComfyUI up to 2024) or `["COMBO", {"options": ["a", "b"]}]` (newer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INPAINT_CONDITIONING = "InpaintModelConditioning"


def file_name(name: str) -> str:
    """A server file name without its folder (a Windows server writes `sub\\name.safetensors`)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def file_stem(name: str) -> str:
    """Without folder and extension: how A1111 names checkpoints, LoRAs and embeddings."""
    return file_name(name).rsplit(".", 1)[0]


def combo_options(spec: Any) -> tuple[str, ...]:
    """The choices of one input spec, in either format; () when it is not a choice."""
    if not isinstance(spec, list | tuple) or not spec:
        return ()
    head = spec[0]
    if isinstance(head, list | tuple):
        return tuple(str(option) for option in head)
    if head == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return tuple(str(option) for option in spec[1].get("options", ()))
    return ()


def node_input(object_info: dict[str, Any], node: str, name: str) -> Any:
    inputs = object_info.get(node, {}).get("input", {})
    for group in ("required", "optional"):
        if name in inputs.get(group, {}):
            return inputs[group][name]
    return None


@dataclass(frozen=True)
class ServerInfo:
    """The server's checkpoints, samplers, schedulers, node types, LoRAs, VAEs and embeddings."""

    checkpoints: tuple[str, ...]
    samplers: tuple[str, ...]
    schedulers: tuple[str, ...]
    nodes: frozenset[str]
    loras: tuple[str, ...] = ()  # file names under its models/loras, as LoraLoader takes them
    vaes: tuple[str, ...] = ()
    embeddings: tuple[str, ...] = ()  # from /embeddings: names without extension

    @property
    def has_inpaint_conditioning(self) -> bool:
        return INPAINT_CONDITIONING in self.nodes


def parse_object_info(object_info: dict[str, Any], embeddings: Any = ()) -> ServerInfo:
    """`embeddings`: the answer of /embeddings (a list of names), anything else read as none."""
    return ServerInfo(
        checkpoints=combo_options(node_input(object_info, "CheckpointLoaderSimple", "ckpt_name")),
        samplers=combo_options(node_input(object_info, "KSampler", "sampler_name")),
        schedulers=combo_options(node_input(object_info, "KSampler", "scheduler")),
        nodes=frozenset(object_info),
        loras=combo_options(node_input(object_info, "LoraLoader", "lora_name")),
        vaes=combo_options(node_input(object_info, "VAELoader", "vae_name")),
        embeddings=tuple(str(name) for name in embeddings) if isinstance(embeddings, list) else (),
    )


@dataclass(frozen=True)
class SystemStats:
    """The server's compute device, for the status bar ("cuda:0 NVIDIA RTX 4090, 24 GB")."""

    device: str
    device_type: str
    vram_total: int  # bytes
    vram_free: int

    @property
    def summary(self) -> str:
        gigabytes = self.vram_total / 2**30
        return f"{self.device} ({gigabytes:.0f} GB)" if self.vram_total else self.device


def parse_system_stats(stats: dict[str, Any]) -> SystemStats:
    devices = stats.get("devices") or [{}]
    first = devices[0]
    return SystemStats(
        device=str(first.get("name", "unknown device")),
        device_type=str(first.get("type", "")),
        vram_total=int(first.get("vram_total") or 0),
        vram_free=int(first.get("vram_free") or 0),
    )
