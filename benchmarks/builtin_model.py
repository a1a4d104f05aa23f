"""Benchmark the built-in emoji model (checkpoints/sdstudio-emoji) with diffusers and torch only.

    .venv/bin/python benchmarks/builtin_model.py [--model DIR] [--data data/emoji64.npz] [--n 96]

Prints and writes (--out, JSON):
- VAE reconstruction PSNR on the held-out emoji;
- prompt adherence without a pretrained judge: generate one image per held-out caption, find the
  nearest training image (pixels, 32x32), and count how often its caption shares the held-out
  caption's key noun; the baseline is the same rate for a random training caption;
- seconds for one 20-step 64x64 generation with CFG, text encoding and decode included (goal <= 3 s),
  both as a bare diffusers loop and through sdstudio's engine (what the app and the CLI run: our
  sampling loop with a preview image at every step).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

STOP = {"of", "with", "and", "the", "a", "in", "on", "for", "button"}


def load(model: Path, device: torch.device):
    fp32 = torch.float32
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", torch_dtype=fp32).to(device).eval()
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae", torch_dtype=fp32).to(device).eval()
    text_encoder = CLIPTextModel.from_pretrained(model, subfolder="text_encoder", torch_dtype=fp32).to(device).eval()
    tokenizer = CLIPTokenizer.from_pretrained(model, subfolder="tokenizer")
    scheduler = EulerDiscreteScheduler.from_pretrained(model, subfolder="scheduler")
    return unet, vae, text_encoder, tokenizer, scheduler


@torch.no_grad()
def generate(parts, prompts: list[str], steps: int, cfg: float, seed: int, size: int = 64) -> torch.Tensor:
    """Text -> images in [-1,1], (N,3,H,W): CFG with the empty prompt, the scheduler's own loop."""
    unet, vae, text_encoder, tokenizer, scheduler = parts
    device = unet.device
    ids = tokenizer(
        prompts + [""] * len(prompts), padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids.to(device)
    context = text_encoder(ids)[0]
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(len(prompts), unet.config.in_channels, size // factor, size // factor, generator=g)
    scheduler.set_timesteps(steps)
    latents = latents.to(device) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        eps_text, eps_uncond = unet(x, t, encoder_hidden_states=context).sample.chunk(2)
        latents = scheduler.step(eps_uncond + cfg * (eps_text - eps_uncond), t, latents).prev_sample
    return vae.decode(latents / vae.config.scaling_factor).sample.clamp(-1, 1).cpu()


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def vae_psnr(vae: AutoencoderKL, images: torch.Tensor) -> float:
    recon = torch.cat([vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1) for x in images.split(64)])
    mse = ((recon - images) / 2).pow(2).flatten(1).mean(1)
    return float((-10 * torch.log10(mse)).mean())


def key_noun(caption: str) -> str:
    """The head noun: "red apple" -> apple, "flag of France" -> flag, "woman elf, dark skin tone" -> elf."""
    main = caption.split(",")[0].lower()
    if main.startswith("flag"):
        return "flag"
    words = [w for w in re.findall(r"[a-z0-9]+", main) if w not in STOP]
    return words[-1] if words else main


def shares_noun(noun: str, caption: str) -> bool:
    return noun in re.findall(r"[a-z0-9]+", caption.split(",")[0].lower())


def adherence(parts, data, n: int, steps: int, cfg: float, batch: int = 16) -> dict:
    """Nearest-training-image caption match rate for generations from held-out captions, and chance."""
    held = np.nonzero(data["heldout"])[0]
    held = held[np.linspace(0, len(held) - 1, min(n, len(held))).astype(int)]
    train = np.nonzero(~data["heldout"])[0]
    captions = [str(c) for c in data["captions"]]
    train_small = F.interpolate(to_tensor(data["images"][train]), size=32, mode="area").flatten(1)
    hits, chance, examples = 0, [], []
    for start in range(0, len(held), batch):
        chunk = held[start : start + batch]
        prompts = [captions[i] for i in chunk]
        images = generate(parts, prompts, steps, cfg, seed=start)
        small = F.interpolate(images, size=32, mode="area").flatten(1)
        nearest = torch.cdist(small, train_small).argmin(1)
        for prompt, j in zip(prompts, nearest.tolist(), strict=True):
            neighbour = captions[train[j]]
            noun = key_noun(prompt)
            hits += shares_noun(noun, neighbour)
            chance.append(np.mean([shares_noun(noun, captions[k]) for k in train]))
            examples.append((prompt, neighbour))
    return {
        "adherence_rate": hits / len(held),
        "adherence_random_rate": float(np.mean(chance)),
        "adherence_n": len(held),
        "adherence_examples": examples[:12],
    }


def speed(parts, steps: int = 20, cfg: float = 5.0, repeats: int = 3) -> float:
    generate(parts, ["red apple"], 2, cfg, seed=0)  # warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        generate(parts, ["red apple"], steps, cfg, seed=r)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def engine_speed(model: Path, steps: int = 20, cfg: float = 5.0, repeats: int = 3) -> float:
    """The same generation through sdstudio's Engine, per-step previews on, model already loaded."""
    from sdstudio.engine.engine import Engine
    from sdstudio.engine.requests import GenerationRequest

    engine = Engine()
    request = GenerationRequest(
        prompt="red apple", model=str(model), sampler="Euler", steps=steps, cfg_scale=cfg, width=64, height=64
    )
    engine.generate(replace(request, steps=2))  # load + warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        engine.generate(replace(request, seed=r))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("checkpoints/sdstudio-emoji"))
    p.add_argument("--data", type=Path, default=Path("data/emoji64.npz"))
    p.add_argument("--n", type=int, default=96, help="held-out captions to generate from")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--cfg", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/builtin/benchmark.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    parts = load(args.model, device)
    with np.load(args.data) as z:
        data = {k: z[k] for k in ("images", "captions", "heldout")}
    results = {
        "model": str(args.model),
        "device": f"{device.type}, {args.threads} threads" if device.type == "cpu" else torch.cuda.get_device_name(),
        "dataset_size": int(len(data["captions"])),
    }
    results["vae_heldout_psnr_db"] = vae_psnr(parts[1], to_tensor(data["images"][data["heldout"]]).to(device))
    print(f"VAE held-out PSNR: {results['vae_heldout_psnr_db']:.2f} dB", flush=True)
    results["seconds_per_image"] = speed(parts, args.steps, args.cfg)
    print(f"20-step 64x64 generation (CFG, encode + decode): {results['seconds_per_image']:.2f} s", flush=True)
    results["engine_seconds_per_image"] = engine_speed(args.model, args.steps, args.cfg)
    print(f"the same through sdstudio's engine (previews on): {results['engine_seconds_per_image']:.2f} s", flush=True)
    results.update(adherence(parts, data, args.n, args.steps, args.cfg))
    print(
        f"prompt adherence: {results['adherence_rate']:.1%} of {results['adherence_n']} held-out captions"
        f" (random captions: {results['adherence_random_rate']:.1%})"
    )
    for prompt, neighbour in results["adherence_examples"]:
        print(f"  {prompt!r:45} -> nearest training image: {neighbour!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
