"""Build Hugging Face CLIP tokenizer folders from the BPE vocabulary in the open-clip-torch wheel.

Why: the app must run offline, and transformers can only build a real CLIP tokenizer from
vocab.json + merges.txt. open-clip-torch ships the original OpenAI BPE file, from which both
are derived exactly as OpenAI's SimpleTokenizer does. The output is committed to resources/;
run this again only to regenerate it (`pip install --no-deps open-clip-torch` first).

Two folders: `clip` (SD 1.x / SDXL tokenizer 1, pads with <|endoftext|>) and `clip-pad-excl`
(SD 2.x / SDXL tokenizer 2, OpenCLIP's convention of padding with "!").
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode map, which CLIP's BPE is defined over."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def build(out_root: Path) -> None:
    # find_spec, not import: importing open_clip needs torchvision, which we do not install.
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open-clip-torch is not installed: pip install --no-deps open-clip-torch")
    bpe_path = Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = {token: index for index, token in enumerate(vocab)}
    assert len(encoder) == 49408, len(encoder)

    for folder, pad in (("clip", "<|endoftext|>"), ("clip-pad-excl", "!")):
        target = out_root / folder
        target.mkdir(parents=True, exist_ok=True)
        (target / "vocab.json").write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")
        (target / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        special = {
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": pad,
        }
        (target / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
        config = {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "do_lower_case": True,
            "clean_up_tokenization_spaces": True,
            **special,
        }
        (target / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "resources" / "tokenizers")
