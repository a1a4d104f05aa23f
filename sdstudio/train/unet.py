"""Stage 2: the denoiser (UNet2DConditionModel) and a CLIP text encoder, trained jointly from scratch.

Latent diffusion (Rombach et al. 2022) on cached VAE posteriors: DDPM noise (1000 steps, SD's
scaled-linear betas, epsilon prediction), Min-SNR-5 loss weighting (Hang et al. 2023) for faster
convergence, 10% empty captions for classifier-free guidance, EMA weights for sampling and export.
Resumable: the whole run state is checkpointed atomically every few minutes.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL

from sdstudio.train import dataset as ds
from sdstudio.train.common import (
    JsonlLog,
    atomic_save,
    atomic_write_text,
    from_uint8,
    grid,
    load_checkpoint,
    pick_device,
)
from sdstudio.train.models import load_tokenizer, make_text_encoder, make_unet, sample_scheduler, train_scheduler
from sdstudio.train.sample import FIXED_PROMPTS, generate, tokenize
from sdstudio.train.vae import latent_stats


def cache_latents(vae: AutoencoderKL, data: ds.EmojiData, device: torch.device, path: Path) -> dict:
    """Scaled posterior means and stds of every image (training samples from the posterior), cached once.

    The cache is keyed by the images' digest and the VAE's scaling factor: a rebuilt dataset re-encodes.
    """
    digest = hashlib.sha1(np.ascontiguousarray(data.images).tobytes()).hexdigest()
    cached = load_checkpoint(path)
    if (
        cached is not None
        and cached["scaling_factor"] == vae.config.scaling_factor
        and len(cached["mean"]) == len(data)
        and cached.get("images_sha1") == digest
    ):
        return cached
    images = from_uint8(data.images)
    mean = latent_stats(vae, images, device)
    with torch.no_grad():
        logvar = torch.cat(
            [vae.encode(images[i : i + 128].to(device)).latent_dist.logvar.cpu() for i in range(0, len(images), 128)]
        )
    s = vae.config.scaling_factor
    cached = {"mean": mean * s, "std": (0.5 * logvar).exp() * s, "scaling_factor": s, "images_sha1": digest}
    atomic_save(cached, path)
    return cached


class EMA:
    """Exponential moving average of a module's weights, with the usual (1+n)/(10+n) warm-up."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for ema, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema.lerp_(p.detach(), 1 - d)


def caption_ids(tokenizer, data: ds.EmojiData) -> tuple[list[list[int]], torch.Tensor]:
    """Each image's caption choices as row indices into one tokenized table; row 0 is the empty caption."""
    texts, index, choices = [""], {"": 0}, []
    for main, alts in zip(data.captions, data.alt_captions, strict=True):
        rows = []
        for text in [main, *alts]:
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            rows.append(index[text])
        choices.append(rows)
    table = tokenize(tokenizer, texts)
    return choices, table


def pick_caption(rows: list[int], rng: random.Random, dropout: float, alt_prob: float = 0.25) -> int:
    """Empty caption with probability `dropout` (for CFG), else the main caption or, sometimes, an alternative."""
    if rng.random() < dropout:
        return 0
    return rng.choice(rows) if rng.random() < alt_prob else rows[0]


def diffusion_loss(unet, text_encoder, scheduler, latents, ids, snr_gamma: float) -> torch.Tensor:
    """Epsilon-prediction MSE at uniform random timesteps, weighted by min(SNR, gamma) / SNR."""
    noise = torch.randn_like(latents)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), device=latents.device)
    noisy = scheduler.add_noise(latents, noise, t)
    context = text_encoder(ids)[0]
    eps = unet(noisy, t, encoder_hidden_states=context).sample
    per_sample = (eps.float() - noise.float()).pow(2).flatten(1).mean(1)
    if snr_gamma > 0:
        alpha_bar = scheduler.alphas_cumprod.to(latents.device)[t]
        snr = alpha_bar / (1 - alpha_bar)
        per_sample = per_sample * snr.clamp(max=snr_gamma) / snr
    return per_sample.mean()


def load_vae(path: Path, device: torch.device) -> AutoencoderKL:
    return AutoencoderKL.from_pretrained(str(path)).to(device).eval().requires_grad_(False)


def save_samples(ema_unet, ema_te, tokenizer, vae, path: Path, steps: int = 20, cfg: float = 5.0) -> None:
    images = generate(ema_unet, ema_te, tokenizer, vae, sample_scheduler(), list(FIXED_PROMPTS), steps, cfg, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid(images, cols=len(FIXED_PROMPTS), scale=2).save(path)


def learning_rate(args: argparse.Namespace, step: int, warm_from: int = 0) -> float:
    """Linear warm-up, constant, then (with --max-steps and --cooldown-steps) a linear fall to 10%.

    A function of the step alone, so a resumed run continues the same schedule. A run seeded from an
    exported model starts with a fresh optimizer at step `warm_from`, so it warms up again from there.
    """
    lr = args.lr * min(1.0, (step - warm_from + 1) / args.warmup)
    cooldown = getattr(args, "cooldown_steps", 0)
    if cooldown and args.max_steps:
        remaining = args.max_steps - step
        lr *= 0.1 + 0.9 * min(1.0, max(0.0, remaining / cooldown))
    return lr


def train(args: argparse.Namespace) -> int:
    device = pick_device()
    save_dir, log_dir = Path(args.save_dir), Path(args.log_dir)
    state_path = save_dir / "unet_state.pt"
    vae = load_vae(Path(args.vae) if args.vae else save_dir / "vae", device)
    data = ds.load_or_build(Path(args.data))
    train_set = data.subset(False)
    if args.limit:
        train_set = ds.EmojiData(*(x[: args.limit] for x in vars(train_set).values()))
    cache = cache_latents(vae, train_set, device, save_dir / ("latents.pt" if not args.limit else "latents_small.pt"))
    mean, std = cache["mean"].to(device), cache["std"].to(device)
    tokenizer = load_tokenizer()
    choices, table = caption_ids(tokenizer, train_set)
    table = table.to(device)

    torch.manual_seed(args.seed)
    unet = make_unet(**json.loads(args.unet_config)) if args.unet_config else make_unet()
    text_encoder = make_text_encoder(**json.loads(args.text_config)) if args.text_config else make_text_encoder()
    unet.to(device).train()
    text_encoder.to(device).train()
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, foreach=True)
    ema_unet, ema_te = EMA(unet, args.ema_decay), EMA(text_encoder, args.ema_decay)
    run = {"step": 0, "epoch": 0.0, "elapsed": 0.0, "samples": 0}
    state = load_checkpoint(state_path) if args.resume else None
    if state is not None:
        unet.load_state_dict(state["unet"])
        text_encoder.load_state_dict(state["text_encoder"])
        ema_unet.model.load_state_dict(state["ema_unet"])
        ema_te.model.load_state_dict(state["ema_text_encoder"])
        if state["opt"] is not None:  # None in a run seeded from an exported model
            opt.load_state_dict(state["opt"])
        run.update(state["run"])
        print(f"resumed UNet from step {run['step']} ({run['elapsed'] / 60:.1f} min trained)")
    warm_from = run.get("seeded_from", {}).get("step", 0)
    n_unet = sum(p.numel() for p in unet.parameters())
    n_te = sum(p.numel() for p in text_encoder.parameters())
    print(f"UNet {n_unet / 1e6:.2f}M + text encoder {n_te / 1e6:.2f}M params on {device}; {len(train_set)} images")
    scheduler = train_scheduler()
    scheduler.alphas_cumprod = scheduler.alphas_cumprod.to(device)
    log = JsonlLog(log_dir / "unet_log.jsonl")
    rng = random.Random(args.seed + run["step"])
    torch.manual_seed(args.seed + run["step"])
    session_start = time.time()
    started = session_start - run["elapsed"]
    last_save = last_sample = session_start

    def checkpoint() -> None:
        run["elapsed"] = time.time() - started
        state = {
            "unet": unet.state_dict(),
            "text_encoder": text_encoder.state_dict(),
            "ema_unet": ema_unet.model.state_dict(),
            "ema_text_encoder": ema_te.model.state_dict(),
            "opt": opt.state_dict(),
            "run": {**run, "batch_size": args.batch_size},
            "unet_config": dict(unet.config),
            "text_config": text_encoder.config.to_dict(),
            "vae_scaling_factor": float(vae.config.scaling_factor),
        }
        atomic_save(state, state_path)

    losses, t_window = [], time.time()
    steps_per_epoch = len(train_set) / args.batch_size
    while True:
        if args.max_steps and run["step"] >= args.max_steps:
            break
        if args.minutes and time.time() - session_start > args.minutes * 60:
            break
        idx = torch.tensor(rng.sample(range(len(train_set)), args.batch_size))
        latents = mean[idx] + std[idx] * torch.randn_like(std[idx])
        rows = [pick_caption(choices[i], rng, args.caption_dropout) for i in idx.tolist()]
        loss = diffusion_loss(unet, text_encoder, scheduler, latents, table[rows], args.snr_gamma)
        lr = learning_rate(args, run["step"], warm_from)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_unet.update(unet, run["step"])
        ema_te.update(text_encoder, run["step"])
        run["step"] += 1
        run["epoch"] = round(run["step"] / steps_per_epoch, 3)
        losses.append(loss.item())
        if run["step"] % args.log_every == 0:
            record = {
                "step": run["step"],
                "epoch": run["epoch"],
                "loss": round(float(np.mean(losses)), 5),
                "grad_norm": round(float(grad_norm), 3),
                "lr": lr,
                "sec_per_step": round((time.time() - t_window) / len(losses), 3),
                "minutes": round((time.time() - started) / 60, 1),
            }
            log.write(**record)
            print(json.dumps(record), flush=True)
            losses, t_window = [], time.time()
        if time.time() - last_save > args.save_every_minutes * 60:
            checkpoint()
            last_save = time.time()
        if args.sample_every_minutes and time.time() - last_sample > args.sample_every_minutes * 60:
            run["samples"] += 1
            t_sample = time.time()
            save_samples(
                ema_unet.model, ema_te.model, tokenizer, vae, log_dir / f"unet_samples_step{run['step']:06d}.png"
            )
            last_sample = time.time()
            t_window += last_sample - t_sample  # sampling time is not training time per step
    checkpoint()
    if args.sample_at_end:
        save_samples(ema_unet.model, ema_te.model, tokenizer, vae, log_dir / f"unet_samples_step{run['step']:06d}.png")
    summary = {"step": run["step"], "epoch": run["epoch"], "minutes": round(run["elapsed"] / 60, 1)}
    atomic_write_text(save_dir / "unet_progress.json", json.dumps(summary, indent=2))
    if args.max_steps and run["step"] >= args.max_steps:
        atomic_write_text(save_dir / "unet_done.json", json.dumps(summary, indent=2))
    print("UNet session done:", summary)
    return 0
