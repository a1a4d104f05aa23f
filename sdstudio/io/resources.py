"""The files a generation names besides its checkpoint (LoRAs, embeddings, a VAE), in A1111's words.

Writing: A1111 (and Civitai, which reads it to link the resources) records each LoRA named in the
prompt as `Lora hashes: "name: hash, ..."`, each embedding the prompts use as `TI hashes`, and
the VAE as `VAE hash: h, VAE: file name`. The LoRA tags themselves stay in the prompt.
Reading: an image names resources by these words; `missing_resources` says which of them are
not installed here, so that restoring a stranger's image says what to download.

Torch-free: names are resolved through discovery and hashed by `sdstudio.engine.hashes`. Files
that cannot be found or read are left out of the text, never an error: metadata must not fail a
finished image.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sdstudio.engine import hashes
from sdstudio.engine.discovery import discover_networks, resolve_network
from sdstudio.engine.prompt_syntax import LORA_KINDS, split_extra_networks
from sdstudio.engine.requests import GenerationRequest
from sdstudio.engine.vae_files import expanded
from sdstudio.errors import SdStudioError

VAE_SUFFIXES = (".safetensors", ".ckpt", ".pt")


def _a1111_name(name: str) -> str:
    """A1111 drops ':' and ',' from names in its hash lists, which use both as separators."""
    return name.replace(":", "").replace(",", "")


def lora_names(prompt: str) -> list[str]:
    """The LoRA names of the prompt's `<lora:...>`/`<lyco:...>` tags, in order, once each."""
    _, tags = split_extra_networks(prompt)
    names = [args[0].strip() for kind, args, _start, _end in tags if kind in LORA_KINDS and args and args[0].strip()]
    return list(dict.fromkeys(names))


def _find(kind: str, name: str) -> Path | None:
    try:
        return Path(resolve_network(kind, name).path)
    except (SdStudioError, OSError, ValueError, RuntimeError):  # RuntimeError: `~nobody` has no home folder
        return None


def used_embeddings(*prompts: str) -> list[tuple[str, Path]]:
    """The installed embeddings whose name appears as a word in the prompts (as A1111 uses them;
    CLIP lowercases text, so case does not matter)."""
    text = "\n".join(split_extra_networks(prompt)[0] for prompt in prompts)
    try:
        infos = discover_networks("embedding")
    except OSError:
        return []
    used = []
    for info in infos:
        if re.search(rf"(?<![\w-]){re.escape(info.name)}(?![\w-])", text, re.IGNORECASE):
            used.append((info.name, Path(info.path)))
    return used


def _hash_list(entries: list[tuple[str, Path]], hasher) -> str:
    parts = []
    for name, path in entries:
        try:
            parts.append(f"{_a1111_name(name)}: {hasher(path)}")
        except (OSError, ValueError, SdStudioError):
            continue
    return ", ".join(parts)


def vae_settings(request: GenerationRequest) -> dict[str, str]:
    """`VAE hash` and `VAE` (the file's name, suffix included, as A1111 writes it) of an override."""
    if not request.vae:
        return {}
    path = expanded(request.vae)
    if not path.is_file():
        path = _find("vae", request.vae) or path
    if not path.is_file():
        return {"VAE": path.name}
    try:
        return {"VAE hash": hashes.vae_hash(path), "VAE": path.name}
    except OSError:
        return {"VAE": path.name}


def network_settings(request: GenerationRequest) -> dict[str, str]:
    """`Lora hashes` for the prompts' LoRA tags and `TI hashes` for the embeddings the prompts use
    (a hires fix's own prompts included, as A1111 lists them)."""
    settings = {}
    positives, negatives = [request.prompt], [request.negative_prompt]
    if request.hires is not None:
        hires_prompt, hires_negative = request.hires.prompts(request)
        positives.append(hires_prompt)
        negatives.append(hires_negative)
    names = dict.fromkeys(name for text in positives for name in lora_names(text))  # negatives' are not applied
    loras = [(name, path) for name in names if (path := _find("lora", name)) is not None]
    if text := _hash_list(loras, hashes.lora_hash):
        settings["Lora hashes"] = text
    if text := _hash_list(used_embeddings(*dict.fromkeys(positives + negatives)), hashes.embedding_hash):
        settings["TI hashes"] = text
    return settings


def parse_hash_list(text: str) -> dict[str, str]:
    """`"name: hash, name2: hash2"` -> {name: hash} (A1111's Lora hashes / TI hashes values)."""
    found = {}
    for part in text.split(","):
        name, _, value = part.rpartition(":")
        if name.strip():
            found[name.strip()] = value.strip()
    return found


@dataclass(frozen=True)
class Missing:
    """A resource an image names that is not installed here (its hash lets a user find it online)."""

    kind: str  # "LoRA", "embedding", "VAE", "hires upscaler"
    name: str
    hash: str = ""
    note: str = ""

    def __str__(self) -> str:
        text = f"{self.kind} '{self.name}'"
        if self.hash:
            text += f" (hash {self.hash})"
        return f"{text}: {self.note}" if self.note else text


def vae_name(stated: str) -> str:
    """The name to look a stated `VAE:` up by: A1111 writes the file name, suffix included."""
    path = Path(stated.strip())
    return path.stem if path.suffix.lower() in VAE_SUFFIXES else stated.strip()


Have = Callable[[str, str], bool]  # (kind: "lora" | "embedding" | "vae", name) -> is it there


def installed_here(kind: str, name: str) -> bool:
    return _find(kind, name) is not None


def missing_resources(
    prompt: str, negative: str, settings: dict[str, str], have: Have = installed_here
) -> list[Missing]:
    """Every LoRA, embedding and VAE an image's parameters name that `have` lacks (by default: that
    discovery cannot find here), and a hires upscaler we do not have (Lanczos stands in for it)."""
    missing: list[Missing] = []
    lora_hashes = parse_hash_list(settings.get("Lora hashes", ""))
    hires_prompt = settings.get("Hires prompt", "")  # its LoRAs act on the second pass
    names = {_a1111_name(name).lower(): name for name in [*lora_names(prompt), *lora_names(hires_prompt)]}
    for name in lora_hashes:
        names.setdefault(name.lower(), name)
    for key, name in names.items():
        if not have("lora", name):
            stated = next((h for n, h in lora_hashes.items() if n.lower() == key), "")
            missing.append(Missing("LoRA", name, stated))
    for name, stated in parse_hash_list(settings.get("TI hashes", "")).items():
        if not have("embedding", name):
            missing.append(Missing("embedding", name, stated))
    if settings.get("VAE") and not have("vae", vae_name(settings["VAE"])):
        missing.append(Missing("VAE", vae_name(settings["VAE"]), settings.get("VAE hash", "")))
    upscaler = settings.get("Hires upscaler", "").strip()
    if upscaler and not upscaler.lower().startswith("latent") and upscaler.lower() not in ("lanczos", "none"):
        missing.append(Missing("hires upscaler", upscaler, note="Lanczos is used instead"))
    return missing
