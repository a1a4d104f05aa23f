"""Sampler names users know -> diffusers schedulers, built on the model's own scheduler config.

The names and settings follow diffusers' documented A1111 equivalents, so "DPM++ 2M Karras"
here means what it means in AUTOMATIC1111 and ComfyUI.
"""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from sdstudio.engine.requests import SAMPLER_NAMES, canonical_sampler

# name -> (scheduler class, config overrides)
SAMPLERS: dict[str, tuple[type[SchedulerMixin], dict[str, Any]]] = {
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "Heun": (HeunDiscreteScheduler, {}),
    "LMS": (LMSDiscreteScheduler, {}),
    "DPM++ 2M": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M Karras": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "DPM++ 2M SDE": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "DPM++ 2M SDE Karras": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "DDIM": (DDIMScheduler, {"set_alpha_to_one": False}),
    "PNDM": (PNDMScheduler, {"skip_prk_steps": True}),
    "UniPC": (UniPCMultistepScheduler, {}),
    "LCM": (LCMScheduler, {}),
}
assert tuple(SAMPLERS) == SAMPLER_NAMES


def make_scheduler(name: str, model_scheduler_config: dict[str, Any]) -> SchedulerMixin:
    """A fresh scheduler for one job (schedulers keep state, so jobs never share one)."""
    scheduler_class, overrides = SAMPLERS[canonical_sampler(name)]
    return scheduler_class.from_config(dict(model_scheduler_config), **overrides)
