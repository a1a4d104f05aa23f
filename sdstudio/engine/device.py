"""Which device and dtype to run on: CUDA fp16 when there is a GPU, else CPU fp32.

Overrides for people who know better: SDSTUDIO_DEVICE (cpu, cuda, cuda:1, mps) and
SDSTUDIO_DTYPE (fp32, fp16, bf16). bf16 on CPU halves memory at some speed cost.
"""

from __future__ import annotations

import os

import torch

from sdstudio.errors import InputError

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    name = str(requested or os.environ.get("SDSTUDIO_DEVICE", "") or "").strip()
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise InputError(f"unknown device '{name}': use cpu, cuda or mps") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device '{name}' asked for, but torch sees no CUDA GPU (is a CUDA build installed?)")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str | torch.dtype | None = None) -> torch.dtype:
    if isinstance(requested, torch.dtype):
        return requested
    name = str(requested or os.environ.get("SDSTUDIO_DTYPE", "") or "").strip().lower()
    if name:
        if name not in DTYPES:
            raise InputError(f"unknown dtype '{name}': use fp32, fp16 or bf16")
        return DTYPES[name]
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32
