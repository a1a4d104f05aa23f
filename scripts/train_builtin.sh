#!/usr/bin/env bash
# Train the built-in emoji model end to end, resumably: dataset -> VAE -> UNet (+ periodic export).
#
#   scripts/train_builtin.sh            # starts itself in the background (nohup, nice 10), logs to runs/train.log
#   scripts/train_builtin.sh --foreground
#
# Safe to re-run at any time, in any session: a lock keeps one copy running, every stage resumes
# from its last checkpoint under runs/builtin/, and finished stages are skipped (their *_done.json).
# Knobs (environment): VAE_MINUTES (50), DECODER_MINUTES (30, decoder-only fine-tune on the next
# run after a first export), CHUNK_MINUTES (20, UNet minutes between exports),
# UNET_MAX_STEPS (30000), UNET_COOLDOWN_STEPS (3000, the learning rate falls to 10% over the
# last N steps before UNET_MAX_STEPS), SEED_FROM_SHIPPED (1: with no run folder, continue from the
# shipped model; 0: from scratch), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs

if [[ "${1:-}" != "--foreground" ]]; then
    nohup nice -n 10 "$0" --foreground >>runs/train.log 2>&1 &
    echo "training in the background (pid $!); follow it with: tail -f runs/train.log"
    exit 0
fi

PY=${PYTHON:-.venv/bin/python}
RUN=runs/builtin
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen

exec 9>runs/train.lock
if ! flock -n 9; then
    echo "$(date '+%F %T') another train_builtin.sh is running; nothing to do"
    exit 0
fi
echo "$(date '+%F %T') train_builtin.sh started (pid $$)"

[[ -f data/emoji64.npz ]] || "$PY" -m sdstudio train dataset
# A fresh clone has the shipped model but no run folder: go on from the shipped model rather than
# from scratch (SEED_FROM_SHIPPED=0 trains from scratch).
if [[ "${SEED_FROM_SHIPPED:-1}" == 1 && ! -e $RUN/vae && ! -e $RUN/vae_state.pt && ! -e $RUN/unet_state.pt \
      && -f checkpoints/sdstudio-emoji/sdstudio.json ]]; then
    "$PY" -m sdstudio train seed
fi
[[ -f $RUN/vae_done.json ]] || "$PY" -m sdstudio train vae --max-minutes "${VAE_MINUTES:-50}"
# Sharpen the decoder only (the latents, and so the UNet, stay valid) once a first model is exported.
if [[ ! -f $RUN/vae_decoder_done.json && -f checkpoints/sdstudio-emoji/model_index.json ]]; then
    "$PY" -m sdstudio train vae --decoder-only --lr 4e-4 --max-minutes "${DECODER_MINUTES:-30}"
fi

while [[ ! -f $RUN/unet_done.json ]]; do
    "$PY" -m sdstudio train unet --minutes "${CHUNK_MINUTES:-20}" --max-steps "${UNET_MAX_STEPS:-30000}" \
        --cooldown-steps "${UNET_COOLDOWN_STEPS:-3000}"
    "$PY" -m sdstudio train export || echo "$(date '+%F %T') export failed; training goes on"
done
"$PY" -m sdstudio train export
echo "$(date '+%F %T') train_builtin.sh finished"
