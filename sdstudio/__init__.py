"""sdstudio: Stable Diffusion generation and latent exploration, as a desktop app and a CLI."""

from pathlib import Path

__version__ = "0.1.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESOURCES_DIR = PROJECT_ROOT / "resources"
CHECKPOINTS_DIR = PROJECT_ROOT / "checkpoints"
