import json

import pytest
import torch

from sdstudio.cli import build_parser
from sdstudio.train import unet as stage
from sdstudio.train.common import load_checkpoint
from sdstudio.train.export import export
from sdstudio.train.seed import seed_run
from tests.train.helpers import TINY_TEXT, TINY_UNET, tiny_run


def test_a_lost_run_continues_from_the_exported_model(tmp_path):
    run = tiny_run(tmp_path)
    shipped = tmp_path / "shipped"
    info = export(run, shipped, tmp_path / "data.npz", fp16="yes", samples=None)
    exported = load_checkpoint(run / "unet_state.pt")["ema_unet"]

    seeded = tmp_path / "seeded"
    record = seed_run(shipped, seeded)
    assert record["step"] == info["trained"]["unet_steps"] == 1
    assert json.loads((seeded / "vae_done.json").read_text()) == info["trained"]["vae"]
    state = load_checkpoint(seeded / "unet_state.pt")
    assert state["opt"] is None and state["run"]["step"] == 1 and state["run"]["seeded_from"] == record
    weight = "conv_in.weight"
    assert state["unet"][weight].dtype == torch.float32
    assert torch.equal(state["ema_unet"][weight], exported[weight].half().float())  # the shipped fp16 weights

    argv = ["train", "unet", "--data", str(tmp_path / "data.npz"), "--save-dir", str(seeded)]
    argv += ["--log-dir", str(tmp_path / "logs"), "--batch-size", "4", "--max-steps", "3", "--warmup", "4"]
    argv += ["--unet-config", json.dumps(TINY_UNET), "--text-config", json.dumps(TINY_TEXT)]
    argv += ["--log-every", "1", "--sample-every-minutes", "0", "--no-sample-at-end"]
    assert stage.train(build_parser().parse_args(argv)) == 0
    logged = [json.loads(line) for line in (tmp_path / "logs" / "unet_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [2, 3]  # resumed at the exported step
    assert [r["lr"] for r in logged] == pytest.approx([4e-4 / 4, 4e-4 * 2 / 4])  # a fresh optimizer warms up again
    after = load_checkpoint(seeded / "unet_state.pt")
    assert after["opt"] is not None and after["run"]["seeded_from"] == record

    info = export(seeded, tmp_path / "again", tmp_path / "data.npz", fp16="no", samples=None)
    assert info["trained"]["unet_schedule"].startswith("AdamW; then, from that step-1 model with a fresh optimizer")


def test_seeding_never_overwrites_a_run(tmp_path):
    run = tiny_run(tmp_path)
    export(run, tmp_path / "shipped", tmp_path / "data.npz", fp16="no", samples=None)
    with pytest.raises(FileExistsError):
        seed_run(tmp_path / "shipped", run)
    with pytest.raises(FileNotFoundError):
        seed_run(tmp_path / "nothing", tmp_path / "new")
