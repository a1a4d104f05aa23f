"""Seed a run folder from an exported model, so training goes on when runs/ is lost (a new machine).

The run state (`runs/builtin/`) is not committed, only the exported model is. `sdstudio train seed`
rebuilds what the next stages need from `checkpoints/sdstudio-emoji/`: the VAE (fp32) with its done
markers, and a UNet run state whose weights and EMA are the exported ones, at the exported step and
training time, with a fresh optimizer (its moments are not exported; `train unet` warms the learning
rate up again from that step). What the earlier steps did is kept as `seeded_from` for the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel

from sdstudio.train.common import atomic_save, atomic_write_text


def seed_run(model_dir: Path, save_dir: Path) -> dict:
    """Write SAVE_DIR/vae, vae_done.json (+ vae_decoder_done.json) and unet_state.pt from MODEL_DIR.

    Refuses to overwrite a run that already has a UNet state or a VAE: seeding never loses training.
    """
    model_dir, save_dir = Path(model_dir), Path(save_dir)
    info_path = model_dir / "sdstudio.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{model_dir} is not an exported sdstudio model (no sdstudio.json)")
    for existing in (save_dir / "unet_state.pt", save_dir / "vae"):
        if existing.exists():
            raise FileExistsError(f"{existing} exists: the run is there to resume, not to seed")
    trained = json.loads(info_path.read_text())["trained"]

    # Load everything before writing anything, so a broken model folder leaves no half-seeded run.
    vae = AutoencoderKL.from_pretrained(str(model_dir / "vae"), torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(str(model_dir / "unet"), torch_dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(str(model_dir / "text_encoder"), torch_dtype=torch.float32)
    vae.save_pretrained(save_dir / "vae", safe_serialization=True)
    vae_record = trained.get("vae") or {}
    atomic_write_text(save_dir / "vae_done.json", json.dumps(vae_record, indent=2))
    if vae_record.get("decoder_finetune"):
        atomic_write_text(save_dir / "vae_decoder_done.json", json.dumps(vae_record["decoder_finetune"], indent=2))

    seeded_from = {
        "folder": str(model_dir),
        "step": trained["unet_steps"],
        "schedule": trained.get("unet_schedule") or "AdamW",
        "dtype": trained.get("dtype", "float32"),
    }
    state = {
        "unet": unet.state_dict(),
        "text_encoder": text_encoder.state_dict(),
        "ema_unet": unet.state_dict(),
        "ema_text_encoder": text_encoder.state_dict(),
        "opt": None,
        "run": {
            "step": trained["unet_steps"],
            "epoch": trained["unet_epochs"],
            "elapsed": trained["unet_minutes"] * 60,
            "samples": 0,
            "batch_size": trained.get("unet_batch_size"),
            "seeded_from": seeded_from,
        },
        "unet_config": dict(unet.config),
        "text_config": text_encoder.config.to_dict(),
        "vae_scaling_factor": float(vae.config.scaling_factor),
    }
    atomic_save(state, save_dir / "unet_state.pt")
    return seeded_from


def run(args: argparse.Namespace) -> int:
    try:
        seeded = seed_run(Path(args.model), Path(args.save_dir))
    except (FileNotFoundError, FileExistsError) as exc:
        print(f"sdstudio: error: {exc}", file=sys.stderr)
        return 2
    print(f"seeded {args.save_dir} from {args.model} at UNet step {seeded['step']} (fresh optimizer)")
    return 0
