"""Export the trained run as a diffusers Stable Diffusion folder: checkpoints/sdstudio-emoji.

Writes what `StableDiffusionPipeline.save_pretrained` writes (unet/, vae/, text_encoder/, tokenizer/,
scheduler/, model_index.json) from the EMA weights, plus sdstudio.json (default size, latent->RGB
preview factors fitted by least squares as ComfyUI does, training facts) and the model card. Weights
are stored in fp16 when fp16 generation matches fp32 closely. The folder is replaced atomically.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sdstudio.train import dataset as ds
from sdstudio.train.common import TOKENIZER_DIR, atomic_write_text, from_uint8, grid, load_checkpoint, psnr
from sdstudio.train.model_card import read_jsonl, unet_schedule, write_model_card
from sdstudio.train.models import load_tokenizer, sample_scheduler
from sdstudio.train.sample import FIXED_PROMPTS, generate

FP16_MIN_PSNR = 30.0  # dB between fp16 and fp32 generations; below this the weights stay fp32


def load_trained(save_dir: Path, vae_dir: Path | None = None):
    """(unet, text_encoder, vae, state) with the EMA weights of the latest UNet checkpoint."""
    state = load_checkpoint(save_dir / "unet_state.pt")
    if state is None:
        raise FileNotFoundError(f"no UNet checkpoint in {save_dir}; run `sdstudio train unet` first")
    unet = UNet2DConditionModel.from_config(state["unet_config"])
    unet.load_state_dict(state["ema_unet"])
    text_encoder = CLIPTextModel(CLIPTextConfig.from_dict(state["text_config"]))
    text_encoder.load_state_dict(state["ema_text_encoder"])
    vae = AutoencoderKL.from_pretrained(str(vae_dir or save_dir / "vae"))
    for m in (unet, text_encoder, vae):
        m.eval().requires_grad_(False)
    return unet, text_encoder, vae, state


@torch.no_grad()
def fit_latent_rgb(vae: AutoencoderKL, images: np.ndarray, batch: int = 128) -> tuple[list, list]:
    """Least-squares rgb = latent @ factors + bias, latents scaled by scaling_factor, RGB area-downsampled, [-1,1]."""
    xs, ys = [], []
    for i in range(0, len(images), batch):
        x = from_uint8(images[i : i + batch])
        lat = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        rgb = F.adaptive_avg_pool2d(x, lat.shape[-2:])
        xs.append(lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1]))
        ys.append(rgb.permute(0, 2, 3, 1).reshape(-1, 3))
    lat, rgb = torch.cat(xs).double(), torch.cat(ys).double()
    design = torch.cat([lat, torch.ones(len(lat), 1, dtype=lat.dtype)], 1)
    coef = torch.linalg.lstsq(design, rgb).solution
    return coef[:-1].float().tolist(), coef[-1].float().tolist()


def _fp16_roundtrip(model: torch.nn.Module) -> torch.nn.Module:
    return model.half().float()


def fp16_psnr(unet, text_encoder, vae, tokenizer) -> float:
    """PSNR (dB) between generations with fp32 weights and with weights rounded to fp16."""
    import copy

    prompts = list(FIXED_PROMPTS[:3])
    ref = generate(unet, text_encoder, tokenizer, vae, sample_scheduler(), prompts, steps=8, cfg=5.0)
    halves = [_fp16_roundtrip(copy.deepcopy(m)) for m in (unet, text_encoder, vae)]
    out = generate(*halves[:2], tokenizer, halves[2], sample_scheduler(), prompts, steps=8, cfg=5.0)
    a, b = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1 for x in (ref, out))
    return float(psnr(a, b).mean())


def write_folder(out: Path, unet, text_encoder, vae, fp16: bool, info: dict) -> None:
    """Save the pipeline folder to OUT.tmp, then swap it into place."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=load_tokenizer(),
        unet=unet,
        scheduler=sample_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if fp16:
        pipe.to(torch.float16)
    pipe.save_pretrained(tmp, safe_serialization=True)
    if fp16:
        pipe.to(torch.float32)
    shutil.rmtree(tmp / "tokenizer")
    shutil.copytree(TOKENIZER_DIR, tmp / "tokenizer")
    atomic_write_text(tmp / "sdstudio.json", json.dumps(info, indent=2))
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    keep = [p for p in ("README.md",) if (out / p).exists()]
    for name in keep:
        shutil.copy2(out / name, tmp / name)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def folder_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def export(
    save_dir: Path,
    out: Path,
    data_path: Path,
    fp16: str = "auto",
    vae_dir: Path | None = None,
    samples: Path | None = None,
) -> dict:
    """Export the latest checkpoint; returns the sdstudio.json contents."""
    torch.set_num_threads(2)
    unet, text_encoder, vae, state = load_trained(Path(save_dir), vae_dir)
    tokenizer = load_tokenizer()
    data = ds.load(Path(data_path))
    train_images = data.images[~data.heldout]
    factors, bias = fit_latent_rgb(vae, train_images[:: max(1, len(train_images) // 1000)])
    match = fp16_psnr(unet, text_encoder, vae, tokenizer) if fp16 == "auto" else None
    use_fp16 = fp16 == "yes" or (match is not None and match >= FP16_MIN_PSNR)
    vae_done = Path(save_dir) / "vae_done.json"
    unet_log = Path(save_dir) / "logs" / "unet_log.jsonl"
    run = state["run"]
    info = {
        "name": "sdstudio-emoji",
        "builtin": True,
        "default_size": 64,
        "latent_rgb_factors": factors,
        "latent_rgb_bias": bias,
        "trained": {
            "unet_steps": run["step"],
            "unet_epochs": run["epoch"],
            "unet_minutes": round(run["elapsed"] / 60, 1),
            "unet_batch_size": run.get("batch_size"),
            "unet_schedule": unet_schedule(read_jsonl(unet_log), run.get("seeded_from")),
            "seeded_from": run.get("seeded_from"),
            "vae": json.loads(vae_done.read_text()) if vae_done.exists() else None,
            "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
            "dtype": "float16" if use_fp16 else "float32",
            "fp16_vs_fp32_psnr_db": None if match is None else round(match, 2),
            "params": {
                "unet": sum(p.numel() for p in unet.parameters()),
                "text_encoder": sum(p.numel() for p in text_encoder.parameters()),
                "vae": sum(p.numel() for p in vae.parameters()),
            },
        },
    }
    write_folder(Path(out), unet, text_encoder, vae, use_fp16, info)
    if samples:
        images = generate(
            unet, text_encoder, tokenizer, vae, sample_scheduler(), list(FIXED_PROMPTS) * 2, steps=20, cfg=5.0, seed=100
        )
        Path(samples).parent.mkdir(parents=True, exist_ok=True)
        grid(images, cols=len(FIXED_PROMPTS), scale=2).save(samples)
    write_model_card(Path(out), Path(save_dir), info)
    print(f"exported step {run['step']} to {out} ({folder_size_mb(out):.1f} MB, {info['trained']['dtype']})")
    return info


def run(args: argparse.Namespace) -> int:
    export(
        Path(args.save_dir),
        Path(args.out),
        Path(args.data),
        args.fp16,
        Path(args.vae) if args.vae else None,
        Path(args.samples) if args.samples else None,
    )
    return 0
