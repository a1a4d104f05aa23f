"""LoRAs, embeddings, VAE, clip skip and hires fix in A1111's `parameters` words, both ways:
what we write is what A1111 writes, real A1111 text restores into a request, and a restored
image says which of the files it names are not installed here."""

import hashlib

import numpy as np
from safetensors.numpy import save_file

from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler
from sdstudio.io.metadata import format_parameters, parse_parameters

# Real A1111 parameter lines, as published with images (v1.5-v1.9). The first from a model
# showcase (GhostMix), the second from a ComfyUI-extension test of an A1111 v1.9.4 image.
GHOSTMIX = """masterpiece, 1girl, ink style <lora:zyd232_InkStyle_v1_0:0.8> <lora:jinx:0.6>
Negative prompt: EasyNegative, ng_deepnegative_v1_75t, bad hands
Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 5, Size: 960x540, Model hash: e3edb8a26f, \
Model: GhostMix-V2.0-fp16-BakedVAE, Denoising strength: 0.5, Clip skip: 2, Hires upscale: 2, Hires steps: 20, \
Hires upscaler: R-ESRGAN 4x+ Anime6B, Lora hashes: "zyd232_InkStyle_v1_0: 96718d4b1924, jinx: faecb6cfeccd", \
TI hashes: "EasyNegative: c74b4e810b03, ng_deepnegative_v1_75t: 54e7e4826d53", Version: v1.5.1"""
MEINA = """1girl, Tower13_Gizelle
Negative prompt: EasyNegative
Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 557152044, Size: 768x512, \
Model hash: 0a880e98ab, Model: meinacetusorionmix_v10, VAE hash: df3c506e51, VAE: kl-f8-anime2.ckpt, \
Hypertile U-Net: True, ADetailer model: hand_yolov8n.pt, ADetailer version: 24.6.0, \
TI hashes: "Tower13_Gizelle: 9ece223c52f8, EasyNegative: c74b4e810b03", \
Hardware Info: "RTX 3060 Ti 8GB, i7-13700, 32GB RAM", Time taken: 22.5 sec., Version: v1.9.4-191-g6ca0466e, \
Hashes: {"vae": "df3c506e51", "embed:Tower13_Gizelle": "9ece223c52", "embed:EasyNegative": "c74b4e810b", \
"model": "0a880e98ab"}"""
LATENT_HIRES = """1girl, solo, blue eyes <lora:BlueArchive10:1>
Negative prompt: Neg1,Negative,
Steps: 20, Sampler: DPM++ 2M SDE Karras, CFG scale: 7, Seed: 2647703743, Size: 768x768, Model hash: 72bd94132e, \
Model: CuteMix, Denoising strength: 0.7, Hires upscale: 2, Hires upscaler: Latent, \
TI hashes: "Neg1: 339cc9210f70, Negative: 66a7279a88dd", Version: v1.5.1"""



def write(path, seed=0, metadata=None):
    rng = np.random.default_rng(seed)
    save_file({"weight": rng.standard_normal((4, 4)).astype(np.float32)}, str(path), metadata=metadata)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_our_text_names_loras_embeddings_and_vae_with_a1111_hashes(network_folders):
    detail = write(network_folders["lora"] / "add_detail.safetensors", 1)
    write(network_folders["lora"] / "style.safetensors", 2, {"sshs_model_hash": "0123456789abcdef" * 4})
    easy = write(network_folders["embedding"] / "EasyNegative.safetensors", 3)
    write(network_folders["embedding"] / "unused_embedding.safetensors", 4)
    vae = write(network_folders["vae"] / "vae-ft-mse-840000-ema-pruned.safetensors", 5)
    request = GenerationRequest("a castle <lora:add_detail:0.8> <lora:style:1:0.5>", "easynegative, blurry",
                                seed=1, clip_skip=2, vae="vae-ft-mse-840000-ema-pruned")
    text = format_parameters(request, "model")
    data = detail.read_bytes()
    addnet = sha256(data[8 + int.from_bytes(data[:8], "little"):])[:12]  # tensor bytes after the header
    assert f'Lora hashes: "add_detail: {addnet}, style: 0123456789ab"' in text
    assert f'TI hashes: "easynegative: {sha256(easy.read_bytes())[:12]}"' not in text  # the file's own name
    assert f'TI hashes: "EasyNegative: {sha256(easy.read_bytes())[:12]}"' in text
    assert f"VAE hash: {sha256(vae.read_bytes())[:10]}, VAE: vae-ft-mse-840000-ema-pruned.safetensors" in text
    assert "Clip skip: 2" in text
    assert text.splitlines()[0] == "a castle <lora:add_detail:0.8> <lora:style:1:0.5>"  # tags stay in the prompt
    settings = text.splitlines()[-1]
    order = ["Model: model", "VAE hash", "VAE:", "Clip skip", "Lora hashes", "TI hashes", "Version"]
    assert [settings.index(word) for word in order] == sorted(settings.index(word) for word in order)


def test_round_trip_of_ours_restores_every_new_field_and_nothing_is_missing(network_folders):
    write(network_folders["lora"] / "add_detail.safetensors", 1)
    write(network_folders["embedding"] / "EasyNegative.safetensors", 3)
    write(network_folders["vae"] / "vae-ft-mse.safetensors", 5)
    request = GenerationRequest("a castle <lora:add_detail:0.8>", "EasyNegative", steps=24, seed=9, width=512,
                                height=768, clip_skip=2, vae="vae-ft-mse",
                                hires=HiresFix(scale=1.5, steps=12, denoise=0.45, upscaler=Upscaler.LANCZOS))
    parsed = parse_parameters(format_parameters(request.validated(), "model"))
    restored = parsed.apply_to(GenerationRequest(""))
    for name in ("prompt", "negative_prompt", "steps", "seed", "width", "height", "clip_skip", "vae", "hires"):
        assert getattr(restored, name) == getattr(request.validated(), name), name
    assert parsed.missing == [] and parsed.unreadable == ()


def test_a_request_without_the_new_fields_writes_none_of_their_words(network_folders):
    text = format_parameters(GenerationRequest("a cat", seed=3), "m")
    for word in ("Clip skip", "VAE", "Hires", "Lora hashes", "TI hashes", "Denoising strength"):
        assert word not in text
    latent = format_parameters(GenerationRequest("a cat", hires=HiresFix(scale=2, denoise=0.6)).validated(), "m")
    assert "Denoising strength: 0.6, Hires upscale: 2, Hires upscaler: Latent (bicubic)" in latent
    assert "Hires steps" not in latent  # 0 = the base steps, which A1111 leaves out too


def test_real_a1111_text_restores_clip_skip_hires_and_names_what_is_not_installed(network_folders):
    write(network_folders["lora"] / "jinx.safetensors")  # one of the two LoRAs is installed
    parsed = parse_parameters(GHOSTMIX)
    restored = parsed.apply_to(GenerationRequest(""))
    assert restored.prompt == "masterpiece, 1girl, ink style <lora:zyd232_InkStyle_v1_0:0.8> <lora:jinx:0.6>"
    assert restored.clip_skip == 2 and restored.width == 960  # 540 is no multiple of 8: unreadable here
    assert restored.hires == HiresFix(scale=2.0, steps=20, denoise=0.5, upscaler=Upscaler.LANCZOS)
    assert parsed.lora_hashes == {"zyd232_InkStyle_v1_0": "96718d4b1924", "jinx": "faecb6cfeccd"}
    assert [str(item) for item in parsed.missing] == [
        "LoRA 'zyd232_InkStyle_v1_0' (hash 96718d4b1924)",
        "embedding 'EasyNegative' (hash c74b4e810b03)",
        "embedding 'ng_deepnegative_v1_75t' (hash 54e7e4826d53)",
        "hires upscaler 'R-ESRGAN 4x+ Anime6B': Lanczos is used instead",
    ]


def test_real_a1111_vae_line_restores_the_vae_by_name_and_reports_it_missing(network_folders):
    parsed = parse_parameters(MEINA)
    restored = parsed.apply_to(GenerationRequest(""))
    assert restored.vae == "kl-f8-anime2"  # A1111 writes the file name; we look it up by name
    assert restored.sampler == "DPM++ 2M Karras" and restored.seed == 557152044
    assert parsed.embedding_hashes == {"Tower13_Gizelle": "9ece223c52f8", "EasyNegative": "c74b4e810b03"}
    assert [str(item) for item in parsed.missing] == [
        "embedding 'Tower13_Gizelle' (hash 9ece223c52f8)",
        "embedding 'EasyNegative' (hash c74b4e810b03)",
        "VAE 'kl-f8-anime2' (hash df3c506e51)",
    ]
    write(network_folders["vae"] / "kl-f8-anime2.ckpt")
    write(network_folders["embedding"] / "EasyNegative.pt")
    assert [str(item) for item in parsed.missing] == ["embedding 'Tower13_Gizelle' (hash 9ece223c52f8)"]


def test_real_a1111_latent_hires_without_steps_and_a_lora_without_hashes(network_folders):
    parsed = parse_parameters(LATENT_HIRES)
    assert parsed.apply_to(GenerationRequest("")).hires == HiresFix(scale=2.0, steps=0, denoise=0.7,
                                                                    upscaler=Upscaler.LATENT)
    assert [item.name for item in parsed.missing] == ["BlueArchive10", "Neg1", "Negative"]


def test_a_hires_prompts_loras_and_embeddings_get_their_hashes(network_folders):
    write(network_folders["lora"] / "add_detail.safetensors", 1)
    write(network_folders["lora"] / "sharp.safetensors", 2)
    write(network_folders["embedding"] / "EasyNegative.safetensors", 3)
    hires = HiresFix(prompt="a castle <lora:sharp:0.5>", negative_prompt="easynegative")
    text = format_parameters(GenerationRequest("a castle <lora:add_detail:0.8>", "blurry", hires=hires), "m")
    hashes = parse_parameters(text)
    assert list(hashes.lora_hashes) == ["add_detail", "sharp"] and list(hashes.embedding_hashes) == ["EasyNegative"]
    assert hashes.missing == []


def test_a_hires_prompts_loras_are_named_when_missing(network_folders):
    text = ("a cat <lora:ink:1>\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, "
            'Denoising strength: 0.4, Hires prompt: "a cat, sharp <lora:detail:0.5>", Hires upscale: 2, '
            "Hires upscaler: Latent")
    parsed = parse_parameters(text)
    assert [str(item) for item in parsed.missing] == ["LoRA 'ink'", "LoRA 'detail'"]
    assert parsed.hires.prompt == "a cat, sharp <lora:detail:0.5>"


def test_hires_resize_to_a_size_becomes_a_scale_and_a_bad_scale_is_unreadable(network_folders):
    resized = parse_parameters("a\nSteps: 20, Size: 512x768, Denoising strength: 0.4, Hires resize: 1024x1536, "
                               "Hires upscaler: Lanczos")
    assert resized.apply_to(GenerationRequest("")).hires == HiresFix(2.0, 0, 0.4, Upscaler.LANCZOS)
    assert resized.missing == []
    huge = parse_parameters("a\nSteps: 20, Size: 512x512, Hires upscale: 40, Seed: 1")
    assert huge.apply_to(GenerationRequest("")).hires is None
    assert "Hires upscale" in huge.unreadable


def test_names_that_are_no_files_never_fail_the_metadata(network_folders):
    """A finished image is saved whatever its prompt names: `~nobody` (no such home folder), NUL."""
    request = GenerationRequest("a <lora:~nobody/x:1> <lora:a\x00b:1>", "~nobody", vae="~nobody/vae.safetensors")
    text = format_parameters(request, "m")
    assert "Lora hashes" not in text and "VAE: vae.safetensors" in text
    parsed = parse_parameters('a <lora:~nobody:1>\nSteps: 2, Seed: 1, Size: 8x8, VAE: ~zz, TI hashes: "~e: 2"')
    assert [str(item) for item in parsed.missing] == ["LoRA '~nobody'", "embedding '~e' (hash 2)", "VAE '~zz'"]
