"""The diffusion engine: torch + diffusers, no Qt. Everything here works offline."""

import os

# Never reach for the hub (the app is offline by design), and keep the libraries' chatter off
# stderr: the CLI promises one line on error, and the app reports progress itself.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
