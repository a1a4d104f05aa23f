"""Stage 1: a small diffusers AutoencoderKL (64x64 RGB -> 4x16x16 latent), trained from scratch.

Loss: L1 + MSE reconstruction, an image-gradient (edge) L1 term that keeps outlines crisp (a cheap
stand-in for LPIPS, which needs pretrained nets), and a small KL towards N(0, 1) as in LDM
(Rombach et al. 2022). Resumable: the run state is checkpointed atomically every few minutes; the
best held-out-PSNR weights are kept and finally exported with the latent scaling factor.
"""

from __future__ import annotations

import argparse
import json
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
    psnr,
    to_uint8,
)

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(32, 64, 128),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
)


def make_vae(**overrides) -> AutoencoderKL:
    return AutoencoderKL(**{**VAE_CONFIG, **overrides})


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def vae_loss(vae: AutoencoderKL, x: torch.Tensor, kl_weight: float, edge_weight: float) -> dict[str, torch.Tensor]:
    """Reconstruction (L1 + MSE) + edge L1 + kl_weight * mean KL per latent element."""
    posterior = vae.encode(x).latent_dist
    recon = vae.decode(posterior.sample()).sample
    l1 = (recon - x).abs().mean()
    mse = (recon - x).pow(2).mean()
    (gx, gy), (tx, ty) = image_gradients(recon), image_gradients(x)
    edge = (gx - tx).abs().mean() + (gy - ty).abs().mean()
    kl = posterior.kl().mean() / np.prod(posterior.mean.shape[1:])
    loss = l1 + mse + edge_weight * edge + kl_weight * kl
    return {"loss": loss, "l1": l1, "mse": mse, "edge": edge, "kl": kl}


@torch.no_grad()
def evaluate(
    vae: AutoencoderKL, images: torch.Tensor, device: torch.device, batch: int = 64
) -> tuple[float, torch.Tensor]:
    """Mean PSNR (dB) of mean-latent reconstructions, and the reconstructions themselves."""
    vae.eval()
    outs = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch].to(device)
        outs.append(vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1).cpu())
    vae.train()
    recon = torch.cat(outs)
    return psnr(recon, images).mean().item(), recon


@torch.no_grad()
def latent_stats(vae: AutoencoderKL, images: torch.Tensor, device: torch.device, batch: int = 128) -> torch.Tensor:
    """Posterior means of all images, (N,4,h,w), on CPU."""
    vae.eval()
    out = [vae.encode(images[i : i + batch].to(device)).latent_dist.mean.cpu() for i in range(0, len(images), batch)]
    return torch.cat(out)


def save_final(
    vae: AutoencoderKL, train_images: torch.Tensor, device: torch.device, out_dir: Path, scale: float | None = None
) -> float:
    """Export diffusers-format weights with scaling_factor = 1 / std of the training latents (unless given)."""
    if scale is None:
        scale = float(1.0 / latent_stats(vae, train_images, device).std())
    vae.register_to_config(scaling_factor=scale)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    vae.save_pretrained(tmp)
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
    return scale


def train(args: argparse.Namespace) -> int:
    device = pick_device()
    save_dir, log_dir = Path(args.save_dir), Path(args.log_dir)
    stage = "vae_decoder" if args.decoder_only else "vae"
    state_path, best_path = save_dir / f"{stage}_state.pt", save_dir / f"{stage}_best.pt"
    done_path = save_dir / f"{stage}_done.json"
    if args.resume and done_path.exists() and not args.force:
        print(f"{stage} already trained ({done_path}); use --force to train more")
        return 0
    if args.decoder_only and not (save_dir / "vae_done.json").exists():
        print("--decoder-only fine-tunes a finished VAE: train the VAE first")
        return 2
    data = ds.load_or_build(Path(args.data))
    train_set, held = data.subset(False), data.subset(True)
    train_x, held_x = from_uint8(train_set.images), from_uint8(held.images)
    if args.limit:
        train_x = train_x[: args.limit]
    torch.manual_seed(args.seed)
    if args.decoder_only:  # the latent space (encoder) stays fixed, so a trained UNet stays valid
        vae = AutoencoderKL.from_pretrained(str(save_dir / "vae"))
        for frozen in (vae.encoder, vae.quant_conv):
            frozen.requires_grad_(False)
    else:
        vae = make_vae(**json.loads(args.config)) if args.config else make_vae()
    vae.to(device).train()
    trainable = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    run = {"epoch": 0, "step": 0, "elapsed": 0.0, "best_psnr": -1.0, "bad_epochs": 0, "lr": args.lr}
    state = load_checkpoint(state_path) if args.resume else None
    if state is not None:
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        run.update(state["run"])
        print(f"resumed VAE from epoch {run['epoch']} step {run['step']} (best PSNR {run['best_psnr']:.2f})")
    for group in opt.param_groups:
        group["lr"] = run["lr"]
    n_params = sum(p.numel() for p in vae.parameters())
    print(f"VAE {n_params / 1e6:.2f}M params on {device}; {len(train_x)} train / {len(held_x)} held-out images")
    log = JsonlLog(log_dir / f"{stage}_log.jsonl")
    rng = np.random.default_rng(args.seed + run["epoch"])
    started, last_save = time.time() - run["elapsed"], time.time()

    def checkpoint() -> None:
        run["elapsed"] = time.time() - started
        atomic_save(
            {"model": vae.state_dict(), "opt": opt.state_dict(), "run": run, "config": dict(vae.config)}, state_path
        )

    stop_reason = ""
    while run["epoch"] < args.epochs:
        order = rng.permutation(len(train_x))
        sums: dict[str, float] = {}
        t0, n = time.time(), 0
        for b in range(0, len(order) - args.batch_size + 1, args.batch_size):
            x = train_x[order[b : b + args.batch_size]]
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(-1)
            if args.max_minutes:  # anneal linearly to 0 over the last quarter of the time budget
                left = 1 - (time.time() - started) / (args.max_minutes * 60)
                for group in opt.param_groups:
                    group["lr"] = run["lr"] * min(1.0, max(4 * left, 0.02))
            losses = vae_loss(vae, x.to(device), args.kl_weight, args.edge_weight)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            run["step"] += 1
            n += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.item()
            if time.time() - last_save > args.save_every_minutes * 60:
                checkpoint()
                last_save = time.time()
            if args.max_minutes and time.time() - started > args.max_minutes * 60:
                break  # out of time: evaluate this (partial) epoch and finish
        run["epoch"] += 1
        held_psnr, recon = evaluate(vae, held_x, device)
        record = {k: round(v / max(n, 1), 6) for k, v in sums.items()}
        record.update(
            epoch=run["epoch"],
            step=run["step"],
            heldout_psnr=round(held_psnr, 3),
            lr=run["lr"],
            sec_per_step=round((time.time() - t0) / max(n, 1), 3),
        )
        log.write(**record)
        print(json.dumps(record), flush=True)
        if args.visualize:
            show = np.linspace(0, len(held_x) - 1, min(16, len(held_x))).astype(int)  # spread over the kinds
            k = len(show)
            pairs = np.concatenate([to_uint8(held_x[show]), to_uint8(recon[show])])
            log_dir.mkdir(parents=True, exist_ok=True)
            grid(pairs, cols=k, scale=2).save(log_dir / f"{stage}_recon_epoch{run['epoch']:03d}.png")
        if held_psnr > run["best_psnr"] + 0.02:
            run["best_psnr"], run["bad_epochs"] = held_psnr, 0
            atomic_save({"model": vae.state_dict(), "config": dict(vae.config), "run": dict(run)}, best_path)
        else:
            run["bad_epochs"] += 1
            if run["bad_epochs"] % max(args.early_stop_patience // 2, 1) == 0:
                run["lr"] *= 0.5
                for group in opt.param_groups:
                    group["lr"] = run["lr"]
        checkpoint()
        last_save = time.time()
        if run["bad_epochs"] >= args.early_stop_patience:
            stop_reason = "early stop"
            break
        if args.max_minutes and run["elapsed"] > args.max_minutes * 60:
            stop_reason = "time budget"
            break
    stop_reason = stop_reason or "epochs"
    best = load_checkpoint(best_path)
    if best is not None:
        vae.load_state_dict(best["model"])
    final_psnr, _ = evaluate(vae, held_x, device)
    keep = float(vae.config.scaling_factor) if args.decoder_only else None
    scale = save_final(vae, train_x, device, save_dir / "vae", scale=keep)
    summary = {
        "stop": stop_reason,
        "epochs": run["epoch"],
        "steps": run["step"],
        "minutes": round(run["elapsed"] / 60, 1),
        "heldout_psnr": round(final_psnr, 3),
        "scaling_factor": scale,
        "params": n_params,
    }
    atomic_write_text(done_path, json.dumps(summary, indent=2))
    if args.decoder_only:  # the shipped VAE's record: stage 1 plus this fine-tune
        first = json.loads((save_dir / "vae_done.json").read_text())
        first = {**first, "heldout_psnr": summary["heldout_psnr"], "decoder_finetune": summary}
        atomic_write_text(save_dir / "vae_done.json", json.dumps(first, indent=2))
    log.write(event="done", **summary)
    print(f"{stage} done:", summary)
    return 0
