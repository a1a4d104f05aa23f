"""Small helpers shared by the training stages: device, atomic checkpoints, logs, image grids."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_DIR = REPO_ROOT / "resources" / "tokenizers" / "clip"


def pick_device(threads: int = 2) -> torch.device:
    """CUDA when present, else CPU limited to `threads` (the build machine's cores are shared)."""
    torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def atomic_save(obj: object, path: Path) -> None:
    """torch.save to a temp file then os.replace, so a killed run never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict | None:
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


class JsonlLog:
    """Append one JSON object per line (epoch or step records); readable while training runs."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: object) -> None:
        record = {"time": round(time.time(), 1), **record}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) in [-1,1] -> (N,H,W,3) uint8."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) uint8 -> (N,3,H,W) float in [-1,1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def grid(images: np.ndarray, cols: int, scale: int = 1, pad: int = 2) -> Image.Image:
    """Tile (N,H,W,3) uint8 images on white; `scale` enlarges with nearest to see pixels."""
    n, h, w, _ = images.shape
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        sheet.paste(Image.fromarray(img), (pad + c * (w + pad), pad + r * (h + pad)))
    if scale != 1:
        sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    return sheet


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of two (N,3,H,W) batches in [-1,1], measured on the 0..1 scale."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))
