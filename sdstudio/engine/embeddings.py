"""Textual-inversion embeddings (Gal et al. 2022): a prompt word equal to a file's stem uses its vectors.

Files come from the embedding folders (`discovery`), in A1111's layouts: `string_to_param` (.pt
from A1111's trainer), `emb_params` (.safetensors), SDXL's `clip_l` + `clip_g`, and diffusers'
`{token: tensor}`. Pickles are opened only with `torch.load(weights_only=True)`.

The vectors go into the text encoders through diffusers' `load_textual_inversion`, under a
reserved token (`<sdstudio-ti-N>`), once per model. The prompt itself is matched A1111's way, on
token ids of the stem, so "MyStyle," or "mystyle" both find `MyStyle.pt`, and a word that merely
contains the name is left alone. A file that does not fit the model (another family's width) is
skipped and its word stays text, as in A1111.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.loaders import TextualInversionLoaderMixin
from safetensors.torch import load_file

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.discovery import NetworkInfo, discover_networks
from sdstudio.engine.prompt_chunks import EmbeddingIndex, EmbeddingWord
from sdstudio.errors import InputError


@dataclass(frozen=True)
class LoadedEmbedding:
    word: EmbeddingWord
    path: Path
    token_ids: tuple[tuple[int, ...], ...]  # per text encoder


class _Host(TextualInversionLoaderMixin):
    """The bare object diffusers' loader mixin needs: no pipeline, no offloading hooks."""

    hf_device_map = None

    def __init__(self, tokenizer, text_encoder) -> None:
        self.tokenizer, self.text_encoder = tokenizer, text_encoder

    @property
    def components(self) -> dict:
        return {"tokenizer": self.tokenizer, "text_encoder": self.text_encoder}


def read_embedding(path: Path) -> list[torch.Tensor]:
    """The vectors of an embedding file: one (vectors, width) tensor, or [clip_l, clip_g] for SDXL."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            data = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable or unsafe file: the message names it
        raise InputError(f"cannot read embedding '{path.name}': {str(error).splitlines()[0][:200]}") from None
    if isinstance(data, torch.Tensor):
        tensors = [data]
    elif isinstance(data, dict) and "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        tensors = [next(iter(params.values()))]
    elif isinstance(data, dict) and "clip_l" in data and "clip_g" in data:
        tensors = [data["clip_l"], data["clip_g"]]
    elif isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), torch.Tensor):
        tensors = [next(iter(data.values()))]  # emb_params, or diffusers' {token: vector}
    else:
        raise InputError(f"embedding '{path.name}' is not in a layout we know (string_to_param, emb_params, clip_l/g)")
    return [t.detach().float().reshape(-1, t.shape[-1]) for t in tensors]


class Embeddings:
    """The embedding words of one loaded model; files are read when a prompt first uses them."""

    def __init__(self, model: LoadedModel, files: Callable[[], list[NetworkInfo]] | None = None) -> None:
        self._model = model
        self._files = files or (lambda: discover_networks("embedding"))
        self._loaded: dict[tuple[Path, float], LoadedEmbedding | None] = {}  # None: does not fit this model
        self._name_ids: dict[str, tuple[int, ...]] = {}

    def _ids(self, name: str) -> tuple[int, ...]:
        if name not in self._name_ids:
            tokenizer = self._model.tokenizers[0]
            self._name_ids[name] = tuple(tokenizer([name], add_special_tokens=False).input_ids[0])
        return self._name_ids[name]

    def index_for(self, pieces: list[list[tuple[str, float]]]) -> EmbeddingIndex:
        """The embeddings these prompt pieces name, loaded into the model (an empty index if none)."""
        files = self._files()
        if not files:
            return EmbeddingIndex()
        candidates = EmbeddingIndex([EmbeddingWord(info.name, self._ids(info.name), 0) for info in files])
        tokenizer = self._model.tokenizers[0]
        texts = [text for prompt in pieces for text, _ in prompt]
        named = set()
        for tokens in tokenizer(texts, add_special_tokens=False).input_ids:
            for position in range(len(tokens)):
                word = candidates.at(tokens, position)
                if word is not None:
                    named.add(word.name)
        by_name = {info.name: info for info in files}
        loaded = [self._load(by_name[name]) for name in sorted(named)]
        return EmbeddingIndex([embedding.word for embedding in loaded if embedding is not None])

    def _load(self, info: NetworkInfo) -> LoadedEmbedding | None:
        key = (info.path, _mtime(info.path))  # an edited file is read again
        if key not in self._loaded:
            self._loaded[key] = self._register(info)
        return self._loaded[key]

    def _register(self, info: NetworkInfo) -> LoadedEmbedding | None:
        tensors = read_embedding(info.path)
        encoders, tokenizers = self._model.text_encoders, self._model.tokenizers
        widths = [encoder.get_input_embeddings().weight.shape[-1] for encoder in encoders]
        if len(tensors) != len(encoders) or any(t.shape[-1] != w for t, w in zip(tensors, widths, strict=True)):
            return None
        token = f"<sdstudio-ti-{len(self._loaded)}>"
        ids = []
        for tensor, tokenizer, encoder in zip(tensors, tokenizers, encoders, strict=True):
            _Host(tokenizer, encoder).load_textual_inversion(tensor.to(encoder.dtype), token=token)
            names = [token] + [f"{token}_{i}" for i in range(1, tensor.shape[0])]
            ids.append(tuple(tokenizer.convert_tokens_to_ids(names)))
        word = EmbeddingWord(info.name, self._ids(info.name), tensors[0].shape[0])
        return LoadedEmbedding(word, info.path, tuple(ids))

    def token_ids(self, word: EmbeddingWord, encoder: int) -> list[int]:
        for embedding in reversed(self._loaded.values()):
            if embedding is not None and embedding.word == word:
                return list(embedding.token_ids[encoder])
        raise KeyError(word.name)

    def path_of(self, name: str) -> Path | None:
        """The file an embedding word came from (the metadata writer hashes it for `TI hashes`)."""
        for embedding in self._loaded.values():
            if embedding is not None and embedding.word.name == name:
                return embedding.path
        return None

    def fingerprint(self) -> tuple:
        """Changes when the embedding files change: part of the conditioning cache key."""
        return tuple((info.name, str(info.path), _mtime(info.path)) for info in self._files())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
