"""The diffusion engine: torch + diffusers only. Never imports Qt (an import-linter contract checks it)."""
