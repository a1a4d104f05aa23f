"""A LoRA, two embeddings and a VAE for the test checkpoint, in the server's own model folders.

Written once (seeded) beside the cached checkpoint, in the layouts users download: a kohya LoRA
over the test model's attention and text-encoder layers, A1111 embeddings (`emb_params`), and a
standalone VAE in the original (LDM) key layout. The LoRA carries kohya's metadata (trigger words,
base model, the trainer's name for it). The two embeddings hold the same vectors under
different names: if the server reads them as embeddings, "a sdstudio-emb-a" and "a sdstudio-emb-b"
give one image; read as words, two.
"""

from __future__ import annotations

import json
from pathlib import Path

LORA_NAME = "sdstudio-test-lora"
EMBEDDING_NAMES = ("sdstudio-emb-a", "sdstudio-emb-b")
VAE_NAME = "sdstudio-test-vae.safetensors"
STAMP = ".sdstudio-test-networks-2"
LORA_METADATA = {"ss_output_name": "inkstyle", "ss_base_model_version": "sd_v1",
                 "ss_tag_frequency": json.dumps({"10_ink": {"ink style": 12, "sketch": 3}})}


def write_test_networks(models: Path) -> None:
    """Into `models`/loras, embeddings and vae; kept when the stamp says they are complete."""
    stamp = models / STAMP
    if stamp.is_file():
        return
    import torch
    from safetensors.torch import save_file

    from tests.comfy.checkpoint import sd15_shaped_components
    from tests.engine.network_files import kohya_lora, write_lora
    from tests.ldm_layout import vae_to_ldm

    components = sd15_shaped_components(seed=0)
    write_lora(models / "loras", LORA_NAME, kohya_lora(components, seed=3, rank=4), LORA_METADATA)
    vectors = torch.randn(2, 768, generator=torch.Generator().manual_seed(5)) * 0.5
    (models / "embeddings").mkdir(parents=True, exist_ok=True)
    for name in EMBEDDING_NAMES:
        save_file({"emb_params": vectors.clone()}, str(models / "embeddings" / f"{name}.safetensors"))
    other_vae = sd15_shaped_components(seed=7).vae
    state = vae_to_ldm(other_vae.state_dict(), other_vae.config)
    state = {key.removeprefix("first_stage_model."): value.half().contiguous() for key, value in state.items()}
    (models / "vae").mkdir(parents=True, exist_ok=True)
    save_file(state, str(models / "vae" / VAE_NAME))
    stamp.write_text("complete\n")
