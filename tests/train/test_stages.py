import argparse
import random

import torch

from sdstudio.train.models import load_tokenizer, make_text_encoder, make_unet, train_scheduler
from sdstudio.train.sample import tokenize
from sdstudio.train.unet import diffusion_loss, pick_caption
from sdstudio.train.vae import make_vae, vae_loss
from tests.train.helpers import TINY_TEXT, TINY_UNET, TINY_VAE


def _step(params, loss):
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3)
    loss.backward()
    opt.step()
    return sum((p.detach() - b).abs().sum().item() for p, b in zip(params, before, strict=True))


def test_vae_step_has_finite_loss_and_moves_weights():
    torch.manual_seed(0)
    vae = make_vae(**TINY_VAE)
    losses = vae_loss(vae, torch.rand(2, 3, 16, 16) * 2 - 1, kl_weight=1e-5, edge_weight=0.5)
    assert all(torch.isfinite(v) for v in losses.values())
    assert _step(list(vae.parameters()), losses["loss"]) > 0


def test_unet_and_text_encoder_train_jointly():
    torch.manual_seed(0)
    unet, text_encoder = make_unet(**TINY_UNET), make_text_encoder(**TINY_TEXT)
    ids = tokenize(load_tokenizer(), ["red apple", ""])
    assert ids.shape == (2, 77)
    loss = diffusion_loss(unet, text_encoder, train_scheduler(), torch.randn(2, 4, 8, 8), ids, snr_gamma=5.0)
    assert torch.isfinite(loss)
    te_before = text_encoder.get_input_embeddings().weight.detach().clone()
    assert _step(list(unet.parameters()) + list(text_encoder.parameters()), loss) > 0
    assert not torch.equal(te_before, text_encoder.get_input_embeddings().weight), "text encoder learns"


def test_caption_dropout_rate():
    rng = random.Random(0)
    picks = [pick_caption([5, 6], rng, dropout=0.1) for _ in range(4000)]
    assert 0.08 < picks.count(0) / len(picks) < 0.12
    assert picks.count(5) > picks.count(6) > 0


def test_learning_rate_warms_up_holds_and_cools_down_by_step():
    from sdstudio.cli import build_parser
    from sdstudio.train.unet import learning_rate

    args = build_parser().parse_args(
        ["train", "unet", "--lr", "1e-3", "--warmup", "10", "--max-steps", "100", "--cooldown-steps", "40"]
    )
    assert learning_rate(args, 0) == 1e-4  # warm-up
    assert learning_rate(args, 30) == learning_rate(args, 60) == 1e-3  # held
    assert 1e-4 < learning_rate(args, 80) < 1e-3  # falling
    assert abs(learning_rate(args, 100) - 1e-4) < 1e-12  # 10% at the end
    constant = build_parser().parse_args(["train", "unet", "--lr", "1e-3", "--warmup", "10"])
    assert learning_rate(constant, 10_000) == 1e-3


def test_train_command_is_registered():
    from sdstudio.cli import build_parser

    args = build_parser().parse_args(["train", "vae", "--epochs", "1", "--no-visualize"])
    assert callable(args.handler) and args.epochs == 1 and not args.visualize
    assert build_parser().parse_args(["train", "unet"]).resume is True
    assert isinstance(build_parser().parse_args(["train", "export"]), argparse.Namespace)


def test_decoder_finetune_keeps_the_latent_space(tmp_path):
    """Fine-tuning only the decoder sharpens images without invalidating a trained UNet's latents."""
    from diffusers import AutoencoderKL

    from sdstudio.cli import build_parser
    from sdstudio.train import vae as stage
    from tests.train.helpers import tiny_run

    run = tiny_run(tmp_path)
    before = AutoencoderKL.from_pretrained(run / "vae")
    argv = ["train", "vae", "--decoder-only", "--data", str(tmp_path / "data.npz"), "--save-dir", str(run)]
    argv += ["--log-dir", str(tmp_path / "logs"), "--epochs", "1", "--batch-size", "4", "--no-visualize"]
    assert stage.train(build_parser().parse_args(argv)) == 0
    after = AutoencoderKL.from_pretrained(run / "vae")
    assert after.config.scaling_factor == before.config.scaling_factor
    assert torch.equal(after.encoder.conv_in.weight, before.encoder.conv_in.weight)
    assert not torch.equal(after.decoder.conv_out.weight, before.decoder.conv_out.weight)
    assert "decoder_finetune" in (run / "vae_done.json").read_text()
