"""Our sampler names (A1111's) -> ComfyUI's `sampler_name` + `scheduler`.

The pairs are the ones ComfyUI users pick for the same A1111 sampler: "DPM++ 2M Karras" is
dpmpp_2m with the karras schedule, DDIM its own uniform schedule. PNDM has no ComfyUI sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdstudio.engine.requests import SAMPLER_NAMES, canonical_sampler
from sdstudio.errors import InputError

COMFY_SAMPLERS: dict[str, tuple[str, str]] = {
    "Euler": ("euler", "normal"),
    "Euler a": ("euler_ancestral", "normal"),
    "Heun": ("heun", "normal"),
    "LMS": ("lms", "normal"),
    "DPM++ 2M": ("dpmpp_2m", "normal"),
    "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
    "DPM++ 2M SDE": ("dpmpp_2m_sde", "normal"),
    "DPM++ 2M SDE Karras": ("dpmpp_2m_sde", "karras"),
    "DDIM": ("ddim", "ddim_uniform"),
    "UniPC": ("uni_pc", "normal"),
    "LCM": ("lcm", "normal"),
}
assert set(COMFY_SAMPLERS) <= set(SAMPLER_NAMES)


@dataclass(frozen=True)
class ComfySampler:
    sampler_name: str
    scheduler: str


def available_samplers(samplers: tuple[str, ...], schedulers: tuple[str, ...]) -> tuple[str, ...]:
    """Our names that a server with these samplers and schedulers can run, in our order."""
    return tuple(name for name, (sampler, scheduler) in COMFY_SAMPLERS.items()
                 if sampler in samplers and scheduler in schedulers)


def comfy_sampler(name: str, samplers: tuple[str, ...], schedulers: tuple[str, ...], server: str) -> ComfySampler:
    """The server's pair for our sampler `name`, or InputError naming what the server does offer."""
    ours = canonical_sampler(name)
    pair = COMFY_SAMPLERS.get(ours)
    if pair is None or pair[0] not in samplers or pair[1] not in schedulers:
        offered = ", ".join(available_samplers(samplers, schedulers)) or "none of ours"
        raise InputError(
            f"sampler '{ours}' is not available on the ComfyUI server at {server}; choose one of: {offered}"
        )
    return ComfySampler(*pair)
