"""VAE override: a single-file VAE (e.g. the ft-MSE VAE in its original LDM key layout) per job.

Users swap the VAE for sharper faces or to fix washed-out colours of a checkpoint whose baked-in
VAE is poor. The file goes through diffusers' own LDM -> diffusers conversion
(`AutoencoderKL.from_single_file`) with a local config, never a hub download: the config of the
model's own VAE (its diffusers folder's `vae/`, or resources/configs/<family>/vae for a
single-file checkpoint), because an override must have the architecture of the VAE it replaces.
A file that does not fit is refused with a one-line ModelError.

A job gets the override through a shallow copy of the LoadedModel (`with_vae`): the UNet, text
encoders and preview factors stay the model's, the checkpoint is not reloaded, and nothing has to
be restored after the job. Loaded VAEs are kept (a few, by path) so that the next job with the
same VAE costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import SingleFileComponentError

from sdstudio import RESOURCES_DIR
from sdstudio.engine.components import LoadedModel
from sdstudio.engine.models import quiet_libraries
from sdstudio.engine.vae_files import resolve_vae
from sdstudio.errors import ModelError

CONFIG_FAMILIES = {"sd1": "sd1", "sd2": "sd2", "sdxl": "sdxl"}


def _config_source(model: LoadedModel) -> tuple[str, str]:
    """(folder, subfolder) holding the config of the model's VAE, all local."""
    source = Path(model.source) if model.source else None
    if source is not None and (source / "vae" / "config.json").is_file():
        return str(source), "vae"
    family = CONFIG_FAMILIES.get(model.family)
    if family is None:
        raise ModelError(f"model '{model.name}' has no VAE config to load a VAE override with")
    return str(RESOURCES_DIR / "configs" / family), "vae"


def load_vae(path: Path, model: LoadedModel) -> AutoencoderKL:
    """The VAE file converted for `model`'s VAE architecture, on its device and in its VAE's dtype."""
    if path.suffix.lower() != ".safetensors":
        from sdstudio.engine.checkpoint_format import load_pickle_safely

        load_pickle_safely(path)  # refuse unsafe pickles before diffusers opens the file
    folder, subfolder = _config_source(model)
    quiet_libraries()
    try:
        vae = AutoencoderKL.from_single_file(
            str(path), config=folder, subfolder=subfolder, local_files_only=True, torch_dtype=model.vae.dtype
        )
    except SingleFileComponentError as error:
        raise ModelError(f"'{path.name}' is not a VAE: it has no VAE weights") from error
    except (ValueError, RuntimeError, KeyError, OSError, TypeError, NotImplementedError) as error:
        raise ModelError(
            f"VAE '{path.name}' does not fit model '{model.name}': its layers differ from the model's own VAE"
        ) from error
    return vae.to(model.vae.device).eval().requires_grad_(False)


class VaeCache:
    """Loaded VAE overrides by (file, model), newest last; `capacity` of them stay in memory."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._loaded: OrderedDict[tuple, AutoencoderKL] = OrderedDict()
        self.loads = 0  # how many files were actually read (a test and the benchmark count them)

    def get(self, path: Path, model: LoadedModel) -> AutoencoderKL:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime, model.source or model.name, id(model.vae))
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        vae = load_vae(path, model)
        self.loads += 1
        self._loaded[key] = vae
        while len(self._loaded) > self.capacity:
            self._loaded.popitem(last=False)
        return vae

    def clear(self) -> None:
        self._loaded.clear()


def with_vae(model: LoadedModel, vae: str, cache: VaeCache) -> LoadedModel:
    """`model` for one job: itself when `vae` is "", else a copy whose VAE is the override."""
    if not vae:
        return model
    override = cache.get(resolve_vae(vae), model)
    return replace(model, vae=override)
