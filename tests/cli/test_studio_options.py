"""The CLI's A1111 options: --lora/--clip-skip/--vae/--hires-* map onto the request, outpaint extends a
picture, `models` lists LoRAs/embeddings/VAEs, and every bad name or value exits 2 with one line
before any model is loaded."""

import re

import numpy as np
import pytest
from PIL import Image, ImageDraw
from safetensors.numpy import save_file

from sdstudio.cli import main
from sdstudio.cli.parser import build_parser
from sdstudio.cli.request_args import request_from_args
from sdstudio.engine.requests import HiresFix, Upscaler


def open_image(path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image



@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails a test whose command gets as far as loading a model."""
    from sdstudio.engine import models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(models, "load_model", refuse)


def exit_code(argv) -> int:
    """What the process would exit with: main's return, or argparse's SystemExit for usage errors."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def parsed_request(*argv):
    return request_from_args(build_parser().parse_args(["generate", "a cat", "--seed", "1", *argv]), (64, 64))


def write_lora(path):
    save_file({"lora_unet_mid_block_attentions_0.lora_up.weight": np.zeros((4, 1), np.float32)}, str(path))
    return path


def test_lora_flags_append_the_prompt_tags_a_user_would_type(network_folders):
    write_lora(network_folders["lora"] / "add_detail.safetensors")
    write_lora(network_folders["lora"] / "Style.safetensors")
    request = parsed_request("--lora", "add_detail:0.8", "--lora", "style")
    assert request.prompt == "a cat <lora:add_detail:0.8> <lora:Style:1>"


def test_clip_skip_vae_and_hires_flags_fill_the_request(network_folders, tmp_path):
    vae = tmp_path / "my-vae.safetensors"
    write_lora(vae)
    request = parsed_request("--clip-skip", "2", "--vae", str(vae), "--hires-scale", "1.5", "--hires-steps", "10",
                             "--hires-denoise", "0.4", "--hires-upscaler", "lanczos")
    assert request.clip_skip == 2 and request.vae == str(vae)
    assert request.hires == HiresFix(scale=1.5, steps=10, denoise=0.4, upscaler=Upscaler.LANCZOS)
    assert parsed_request("--hires-denoise", "0.3").hires == HiresFix(2.0, 0, 0.3, Upscaler.LATENT)
    assert parsed_request().hires is None and parsed_request().clip_skip == 1
    hires = parsed_request("--hires-prompt", "a cat, sharp", "--hires-negative", "ugly").hires
    assert hires == HiresFix(2.0, 0, 0.5, Upscaler.LATENT, prompt="a cat, sharp", negative_prompt="ugly")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "x", "--lora", "nowhere:0.5"], "LoRA 'nowhere' not found in"),
        (["generate", "x", "--lora", "detail:strong"], "the weight after ':' must be a number"),
        (["generate", "x", "--vae", "missing-vae.safetensors"], "VAE file 'missing-vae.safetensors' does not exist"),
        (["generate", "x", "--vae", "nothing-by-this-name"], "VAE 'nothing-by-this-name' not found in"),
        (["generate", "x", "--clip-skip", "0"], "--clip-skip must be 1 or more, not 0"),
        (["generate", "x", "--hires-scale", "9"], "hires scale must be between 1 and 4, not 9"),
        (["generate", "x", "--hires-denoise", "0"], r"hires denoise must be in \(0, 1\], not 0"),
        (["generate", "x", "--hires-upscaler", "esrgan"], "invalid choice: 'esrgan'"),
        (["outpaint", "x", "--image", "IMAGE", "--extend", "8,8"], "must be four whole numbers"),
        (["outpaint", "x", "--image", "IMAGE", "--extend", "10,0,0,0"], "extend left 10 is not a multiple of 8"),
        (["outpaint", "x", "--image", "IMAGE", "--extend", "8,0,0,0", "--width", "64"], "drop --width/--height"),
    ],
)
def test_bad_names_and_values_exit_2_with_one_line_before_any_model_loads(
    argv, message, network_folders, no_model_loads, tmp_path, capsys
):
    image = tmp_path / "in.png"
    Image.new("RGB", (32, 32)).save(image)
    argv = [str(image) if arg == "IMAGE" else arg for arg in argv]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_outpaint_writes_the_bigger_picture_with_the_original_kept(tiny_model_dir, tmp_path, capsys):
    original = Image.new("RGB", (96, 64), (30, 90, 200))
    ImageDraw.Draw(original).ellipse((20, 10, 70, 55), fill=(240, 200, 20))
    source, out = tmp_path / "in.png", tmp_path / "wide.png"
    original.save(source)
    assert main(["outpaint", "a sunny field", "--image", str(source), "--extend", "16,0,24,8", "--model",
                 str(tiny_model_dir), "--steps", "3", "--seed", "4", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    result = open_image(out)
    assert result.size == (136, 72)
    kept = np.asarray(result, dtype=np.int16)[0:64 - 32, 16 + 32:16 + 96 - 32]  # 16 px overlap + 2x8 px feather
    assert np.array_equal(kept, np.asarray(original, dtype=np.int16)[0:32, 32:64])
    assert "Denoising strength: 0.9, Mask blur: 8" in result.text["parameters"]


def test_generate_with_hires_writes_the_large_image_and_its_hires_words(tiny_model_dir, tmp_path):
    out = tmp_path / "big.png"
    assert main(["generate", "an apple", "--model", str(tiny_model_dir), "--steps", "3", "--width", "64", "--height",
                 "64", "--seed", "5", "--out", str(out), "--hires-scale", "1.5", "--hires-steps", "2"]) == 0
    image = open_image(out)
    assert image.size == (96, 96)
    assert "Size: 64x64" in image.text["parameters"]
    assert "Hires upscale: 1.5, Hires steps: 2, Hires upscaler: Latent (bicubic)" in image.text["parameters"]


def test_models_lists_loras_embeddings_and_vaes_with_their_kind(network_folders, capsys):
    write_lora(network_folders["lora"] / "add_detail.safetensors")
    write_lora(network_folders["embedding"] / "EasyNegative.safetensors")
    write_lora(network_folders["vae"] / "vae-ft-mse.safetensors")
    assert main(["models"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[:2] for row in rows] == [["add_detail", "lora"], ["EasyNegative", "embedding"],
                                         ["vae-ft-mse", "vae"]]
    assert rows[0][2] == str(network_folders["lora"] / "add_detail.safetensors")


@pytest.mark.parametrize("flag", [["--vae", "missing-vae.safetensors"], ["--lora", "nowhere"], ["--hires-scale", "9"]])
def test_a_bad_flag_is_answered_without_importing_torch(flag, network_folders):
    import subprocess
    import sys

    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print('HEAVY:' + ','.join(n for n in ('torch', 'diffusers') if n in sys.modules),"
             " file=sys.stderr))\n"
             "from sdstudio.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", probe, "generate", "x", *flag], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "HEAVY:"


def test_info_names_the_loras_embeddings_and_vae_an_image_needs_that_are_not_installed(
    network_folders, tmp_path, capsys
):
    from sdstudio.io.images import save_image

    write_lora(network_folders["lora"] / "jinx.safetensors")
    text = ("1girl <lora:jinx:0.6> <lora:InkStyle:0.8>\nNegative prompt: EasyNegative\nSteps: 30, Sampler: Euler a, "
            'CFG scale: 5, Seed: 1, Size: 512x512, VAE hash: df3c506e51, VAE: kl-f8-anime2.ckpt, '
            'Lora hashes: "jinx: faecb6cfeccd, InkStyle: 96718d4b1924", TI hashes: "EasyNegative: c74b4e810b03", '
            "Version: v1.5.1")
    path = tmp_path / "a1111.png"
    save_image(Image.new("RGB", (8, 8)), path, text)
    assert main(["info", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == text
    assert captured.err.strip() == (
        "sdstudio: not installed here: LoRA 'InkStyle' (hash 96718d4b1924); "
        "embedding 'EasyNegative' (hash c74b4e810b03); VAE 'kl-f8-anime2' (hash df3c506e51)"
    )
