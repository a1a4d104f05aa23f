"""Command-line flags of each training stage, kept free of torch so the CLI parser builds fast."""

from __future__ import annotations

import argparse

DATA = "data/emoji64.npz"
SAVE_DIR = "runs/builtin"
LOG_DIR = "runs/builtin/logs"
EXPORT_DIR = "checkpoints/sdstudio-emoji"


def vae_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `sdstudio train vae`."""
    p.add_argument("--data", default=DATA, help="dataset npz (built if missing)")
    p.add_argument("--save-dir", default=SAVE_DIR, help="checkpoints; the final VAE goes to SAVE_DIR/vae")
    p.add_argument("--log-dir", default=LOG_DIR, help="loss log (JSONL) and reconstruction grids")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--kl-weight", type=float, default=1e-5)
    p.add_argument("--edge-weight", type=float, default=0.5)
    p.add_argument("--early-stop-patience", type=int, default=6, help="epochs without held-out PSNR gain")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (as done) after this much training time")
    p.add_argument("--save-every-minutes", type=float, default=3.0)
    p.add_argument("--visualize", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--force", action="store_true", help="train on even if a finished VAE exists")
    p.add_argument(
        "--decoder-only",
        action="store_true",
        help="fine-tune only the decoder of SAVE_DIR/vae: sharper images, same latents (a trained UNet stays valid)",
    )
    p.add_argument("--config", default="", help="JSON overrides of the AutoencoderKL config (tests use tiny ones)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    p.add_argument("--seed", type=int, default=0)


def unet_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `sdstudio train unet`."""
    p.add_argument("--data", default=DATA, help="dataset npz (built if missing)")
    p.add_argument("--save-dir", default=SAVE_DIR, help="run state (unet_state.pt) and cached latents")
    p.add_argument("--log-dir", default=LOG_DIR, help="loss log (JSONL) and sample grids")
    p.add_argument("--vae", default="", help="trained VAE folder (default: SAVE_DIR/vae)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--warmup", type=int, default=200, help="linear learning-rate warm-up steps")
    p.add_argument("--ema-decay", type=float, default=0.995, help="horizon ~200 steps: runs here are short")
    p.add_argument("--snr-gamma", type=float, default=5.0, help="Min-SNR loss weighting; 0 = plain MSE")
    p.add_argument("--caption-dropout", type=float, default=0.1, help="share of empty captions (for CFG)")
    p.add_argument("--minutes", type=float, default=0, help="stop this session after N minutes (0 = no limit)")
    p.add_argument("--max-steps", type=int, default=0, help="stop when the run reaches N steps (0 = no limit)")
    p.add_argument(
        "--cooldown-steps",
        type=int,
        default=0,
        help="with --max-steps: lower the learning rate linearly to 10%% over the last N steps (a short run's"
        " weights settle; 0 = constant after warm-up)",
    )
    p.add_argument("--save-every-minutes", type=float, default=4.0)
    p.add_argument("--sample-every-minutes", type=float, default=10.0, help="fixed-prompt sample grids; 0 = off")
    p.add_argument("--sample-at-end", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--log-every", type=int, default=10, help="steps per loss record")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--unet-config", default="", help="JSON overrides of the UNet config (tests use tiny ones)")
    p.add_argument("--text-config", default="", help="JSON overrides of the CLIPTextConfig")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    p.add_argument("--seed", type=int, default=0)


def export_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `sdstudio train export`."""
    p.add_argument("--save-dir", default=SAVE_DIR, help="the run folder (unet_state.pt, vae/, done markers)")
    p.add_argument("--vae", default="", help="trained VAE folder (default: SAVE_DIR/vae)")
    p.add_argument("--out", default=EXPORT_DIR)
    p.add_argument("--data", default=DATA, help="dataset npz, for the latent-to-RGB preview factors")
    p.add_argument(
        "--fp16", choices=("auto", "yes", "no"), default="auto", help="auto: fp16 if generation matches fp32 closely"
    )
    p.add_argument("--samples", default="docs/builtin_model/samples.png", help="sample grid to write ('' = none)")
