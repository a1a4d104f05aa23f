"""The model card (README.md) of the exported built-in model, filled in from the run's own records."""

from __future__ import annotations

import json
from pathlib import Path

from sdstudio.train.common import atomic_write_text


def _fmt(value, spec: str = "", missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def learning_rate_history(records: list[dict]) -> str:
    """The UNet's learning rate as it was logged: its peak and every cool-down, by step.

    Read from the log rather than from flags, because a resumed run may change its schedule (the
    shipped model was cooled down once, then trained on at full rate and cooled down again).
    A resumed run logs some steps twice; the later record wins.
    """
    by_step = {r["step"]: r["lr"] for r in records if "step" in r and "lr" in r}
    if not by_step:
        return "AdamW"
    steps = sorted(by_step)
    peak = max(by_step.values())
    cooling = [by_step[s] < peak * (1 - 1e-6) for s in steps]
    warm = next(i for i, s in enumerate(steps) if not cooling[i])  # the warm-up rises to the peak
    spans, start = [], None
    for i in range(warm, len(steps)):
        if cooling[i] and start is None:
            start = steps[i - 1]
        if not cooling[i] and start is not None:
            spans.append((start, steps[i - 1], by_step[steps[i - 1]]))
            start = None
    if start is not None:
        spans.append((start, steps[-1], by_step[steps[-1]]))
    rate = f"{peak:.1e}".replace("e-0", "e-")
    if not spans:
        return f"AdamW {rate}"
    falls = [f"to {low / peak:.0%} over steps {a}-{b}" for a, b, low in spans]
    return f"AdamW {rate}, falling linearly " + ", then back to the peak and falling again ".join(falls)


def unet_schedule(records: list[dict], seeded_from: dict | None = None) -> str:
    """The whole run's learning-rate history, including what a seeded run's model went through before.

    A run seeded from an exported model (`sdstudio train seed`) logs only its own steps; the earlier
    history comes with the seed.
    """
    if not seeded_from:
        return learning_rate_history(records)
    start = seeded_from["step"]
    later = learning_rate_history([r for r in records if r.get("step", 0) > start])
    return (
        f"{seeded_from['schedule']}; then, from that step-{start} model with a fresh optimizer"
        f" (the learning rate warmed up again), {later}"
    )


def _vae_line(vae: dict) -> str:
    """Stage 1, then the decoder-only fine-tune when there was one (same encoder, same latent space)."""
    line = f"{_fmt(vae.get('epochs'))} epochs, {_fmt(vae.get('steps'))} steps, {_fmt(vae.get('minutes'))} minutes"
    tune = vae.get("decoder_finetune")
    if not tune:
        return line
    return line + (
        f", then {_fmt(tune.get('minutes'))} minutes ({_fmt(tune.get('steps'))} steps) of decoder-only"
        " fine-tuning with the encoder frozen"
    )


def write_model_card(out: Path, save_dir: Path, info: dict) -> None:
    """README.md: data and licences, architecture and sizes, how it was trained, metrics."""
    trained, params = info["trained"], info["trained"]["params"]
    vae = trained.get("vae") or {}
    vae_line = _vae_line(vae)
    unet_records = read_jsonl(save_dir / "logs" / "unet_log.jsonl")
    unet_log = unet_records[-1] if unet_records else {}
    bench_path = save_dir / "benchmark.json"
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else {}
    m = {k: f"{v / 1e6:.2f}M" for k, v in params.items()}
    cfg = {name: json.loads((out / name / "config.json").read_text()) for name in ("vae", "unet", "text_encoder")}
    vae_ch, unet_ch = tuple(cfg["vae"]["block_out_channels"]), tuple(cfg["unet"]["block_out_channels"])
    te_shape = f"{cfg['text_encoder']['num_hidden_layers']} layers, hidden {cfg['text_encoder']['hidden_size']}"
    text = f"""---
license: other
library_name: diffusers
pipeline_tag: text-to-image
---

# sdstudio-emoji: the built-in model of sdstudio

A tiny text-to-emoji latent diffusion model with the Stable Diffusion 1.x architecture scaled
down, trained from scratch on CPU by sdstudio's own training code (`sdstudio/train/`). It makes
64x64 colour emoji from short English captions ("red apple", "cat face", "flag of France"). It is
a demo model that lets sdstudio work out of the box with nothing downloaded, not an artwork tool.

![samples](../../docs/builtin_model/samples.png)

## Data and licences

- Images: the {_fmt(bench.get("dataset_size"), "d", "~3,800")} emoji of Google's **Noto Color Emoji** font
  (Debian package `fonts-noto-color-emoji`), rendered with Pillow + raqm (ZWJ sequences, flags and
  skin tones as one glyph) at 109 px, resampled to 64x64 (Lanczos), on white. Font licence:
  **SIL Open Font License 1.1**; the model weights are a derived work of the font's images.
- Captions: the names of the PyPI **`emoji`** package (BSD licence), e.g.
  `:woman_technologist_medium_skin_tone:` -> "woman technologist, medium skin tone"; flags as
  "flag of X"; alternative captions (Unicode character names from Python's `unicodedata`, the
  package's aliases, except those that are another emoji's name) are picked 25% of the time.
- Held out: 5% of the emoji, chosen by a hash of the emoji string (never trained on). Emoji that
  the font draws alike (the flags of France and St. Martin) keep one row each under their own
  names and share one held-out decision.

## Architecture ({sum(params.values()) / 1e6:.1f}M parameters, {trained["dtype"]})

| component | class | parameters |
|---|---|---|
| VAE (64x64x3 <-> 4x16x16) | `AutoencoderKL`, block_out_channels {vae_ch} | {m["vae"]} |
| denoiser | `UNet2DConditionModel`, block_out_channels {unet_ch}, cross-attention at 8x8, 4x4 | {m["unet"]} |
| text encoder | `CLIPTextModel`, {te_shape}, 77 tokens, trained from scratch | {m["text_encoder"]} |
| tokenizer | the CLIP BPE tokenizer (`resources/tokenizers/clip`) | - |

Scheduler: Stable Diffusion's training schedule (DDPM, 1000 steps, scaled-linear betas
0.00085..0.012, epsilon prediction), so every diffusers scheduler samples it; shipped as
`EulerDiscreteScheduler`. Use classifier-free guidance 4-7 and 20 steps. `sdstudio.json` holds the
default size (64) and latent->RGB preview factors (`rgb = latent * scaling_factor @ factors + bias`).

## Training

One resumable command on CPU (2 shared cores); it puts itself in the background (nohup, nice 10),
logs to `runs/train.log`, and on re-run resumes every stage from its last checkpoint:

    scripts/train_builtin.sh

which runs `sdstudio train dataset`, `sdstudio train vae` (L1 + MSE + edge L1 + 1e-5 KL, batch 16,
early stop on held-out PSNR), `sdstudio train unet` (batch {trained.get("unet_batch_size") or 32},
{trained.get("unet_schedule") or unet_schedule(unet_records)}, Min-SNR-5 weighting, 10% empty captions,
EMA 0.995) and `sdstudio train export` periodically.

- VAE: {vae_line}.
- UNet + text encoder: {trained["unet_steps"]} steps ({trained["unet_epochs"]} epochs), {trained["unet_minutes"]} min.
- Exported {trained["exported"]}.

## Metrics

- VAE held-out reconstruction PSNR: {_fmt(vae.get("heldout_psnr"), ".2f")} dB (64x64).
- Diffusion loss (Min-SNR weighted, last logged): {_fmt(unet_log.get("loss"), ".4f")}.
- Prompt adherence on held-out captions (nearest training image shares the key noun):
  {_fmt(bench.get("adherence_rate"), ".1%")} vs {_fmt(bench.get("adherence_random_rate"), ".1%")} for random captions.
- Speed, 20 steps at 64x64 with CFG incl. text encoding and decode: {_fmt(bench.get("seconds_per_image"), ".2f")} s
  as a bare diffusers loop, {_fmt(bench.get("engine_seconds_per_image"), ".2f")} s through sdstudio's engine with a
  preview at every step ({bench.get("device", "CPU")}).
- fp16 vs fp32 weights, same seeds: {_fmt(trained.get("fp16_vs_fp32_psnr_db"), ".1f")} dB PSNR.

Metrics come from `benchmarks/builtin_model.py`; rerun it after an export to refresh them.

## Limitations

Small and trained for a short time: images are blurry 64x64 emoji-like pictures, rare captions
are often ignored, and text inside emoji is not legible. Not for any use beyond demonstrating sdstudio.
"""
    atomic_write_text(out / "README.md", text)
