"""What a prompt does to one loaded model: its `<lora:...>` tags become active adapters, its words
may name textual-inversion embeddings, and its text becomes embeddings (`conditioning`), per
sampler call when it uses prompt editing or alternation (`prompt_schedule`).

The engine keeps one `PromptEncoder` per loaded model, so adapters and embedding vectors loaded
for one job are still there for the next. `prepare` must run before every job (even one whose
embeddings are cached), because the LoRAs it activates also act on the UNet while sampling.

As in A1111, extra-network tags are cut out of the whole prompt before it is scheduled: a
`<lora:...>` inside an edited part (`[<lora:ink:1>cat:dog:5]`) still applies for the whole job.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.conditioning import Conditioning, CondSchedule, Encoded, encode_prompts, encode_schedule
from sdstudio.engine.discovery import NetworkInfo
from sdstudio.engine.embeddings import Embeddings
from sdstudio.engine.lora import ActiveLora, Loras
from sdstudio.engine.prompt_schedule import ScheduleEntry, prompt_schedule
from sdstudio.engine.prompt_syntax import parse_prompt, split_extra_networks


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

    def prepare(self, prompt: str) -> tuple:
        """Activate the prompt's LoRAs (only the positive prompt's tags count, as in A1111) and
        return what every text's embeddings depend on besides the text: the conditioning cache's
        context (LoRA files and text-encoder weights, embedding files)."""
        self.active = self.loras.resolve(parse_prompt(prompt).loras)
        self.loras.activate(self.active)
        loras = tuple(
            (str(lora.info.path), _mtime(lora.info.path), lora.tag.te_weight, lora.tag.unet_weight)
            for lora in self.active
        )
        return loras, self.embeddings.fingerprint()

    def encode(self, prompt: str, negative: str, clip_skip: int) -> Conditioning:
        """Both prompts as written, without a step schedule (uncached)."""
        return encode_prompts(self.model, prompt, negative, clip_skip, self.embeddings)

    def schedule(
        self,
        prompt: str,
        negative: str,
        clip_skip: int,
        steps: int | None,
        hires_steps: int | None = None,
        cache: dict[tuple, Encoded] | None = None,
        context: tuple = (),
    ) -> CondSchedule:
        """One sampling pass's conditioning per sampler call (A1111's schedules over `steps`, and
        `hires_steps` for hires fix's second pass); `steps=None`: the prompts as written, no schedule."""
        texts = [split_extra_networks(text)[0] for text in (prompt, negative)]
        if steps is None:
            positive, uncond = ([ScheduleEntry(1, text)] for text in texts)
        else:
            positive, uncond = (prompt_schedule(text, steps, hires_steps) for text in texts)
        return encode_schedule(self.model, positive, uncond, clip_skip, self.embeddings, not negative, cache, context)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
