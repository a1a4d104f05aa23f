"""What a prompt does to one loaded model: its `<lora:...>` tags become active adapters, its words
may name textual-inversion embeddings, and its text becomes embeddings (`conditioning`).

The engine keeps one `PromptEncoder` per loaded model, so adapters and embedding vectors loaded
for one job are still there for the next. `prepare` must run before every job (even one whose
embeddings are cached), because the LoRAs it activates also act on the UNet while sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.conditioning import Conditioning, encode_prompts
from sdstudio.engine.discovery import NetworkInfo
from sdstudio.engine.embeddings import Embeddings
from sdstudio.engine.lora import ActiveLora, Loras
from sdstudio.engine.prompt_syntax import parse_prompt


class PromptEncoder:
    """LoRA adapters, embedding words and encoding for one model."""

    def __init__(
        self,
        model: LoadedModel,
        resolve_lora: Callable[[str], NetworkInfo] | None = None,
        embedding_files: Callable[[], list[NetworkInfo]] | None = None,
    ) -> None:
        self.model = model
        self.loras = Loras(model, resolve_lora)
        self.embeddings = Embeddings(model, embedding_files)
        self.active: list[ActiveLora] = []

    def prepare(self, prompt: str, negative: str, clip_skip: int) -> tuple:
        """Activate the prompt's LoRAs (only the positive prompt's tags count, as in A1111) and
        return the conditioning cache key: everything the embeddings depend on."""
        self.active = self.loras.resolve(parse_prompt(prompt).loras)
        self.loras.activate(self.active)
        loras = tuple(
            (str(lora.info.path), _mtime(lora.info.path), lora.tag.te_weight, lora.tag.unet_weight)
            for lora in self.active
        )
        return prompt, negative, clip_skip, loras, self.embeddings.fingerprint()

    def encode(self, prompt: str, negative: str, clip_skip: int) -> Conditioning:
        return encode_prompts(self.model, prompt, negative, clip_skip, self.embeddings)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
