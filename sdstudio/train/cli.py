"""`sdstudio train dataset|vae|unet|seed|export`: the built-in emoji model's training commands.

`register(commands)` is called by sdstudio.cli with its argparse subparsers; each leaf parser sets
`handler(args) -> int`. Heavy imports happen inside the handlers so `sdstudio --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _dataset(args: argparse.Namespace) -> int:
    from sdstudio.train import dataset as ds

    data = ds.build(Path(args.out), size=args.size)
    print(f"{len(data)} emoji ({int(data.heldout.sum())} held out) -> {args.out}")
    return 0


def _vae(args: argparse.Namespace) -> int:
    from sdstudio.train import vae

    return vae.train(args)


def _unet(args: argparse.Namespace) -> int:
    from sdstudio.train import unet

    return unet.train(args)


def _seed(args: argparse.Namespace) -> int:
    from sdstudio.train import seed

    return seed.run(args)


def _export(args: argparse.Namespace) -> int:
    from sdstudio.train import export

    return export.run(args)


def register(commands) -> None:
    """Add `train` with its own subcommands to the top-level `commands` subparsers."""
    train = commands.add_parser("train", help="train the built-in emoji model (dataset, vae, unet, export)")
    stages = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)

    dataset = stages.add_parser("dataset", help="render the emoji dataset into an npz")
    dataset.add_argument("--out", default="data/emoji64.npz")
    dataset.add_argument("--size", type=int, default=64)
    dataset.set_defaults(handler=_dataset)

    from sdstudio.train import options

    vae = stages.add_parser("vae", help="stage 1: train the autoencoder")
    options.vae_arguments(vae)
    vae.set_defaults(handler=_vae)

    unet = stages.add_parser("unet", help="stage 2: train the denoiser and text encoder")
    options.unet_arguments(unet)
    unet.set_defaults(handler=_unet)

    seed = stages.add_parser(
        "seed", help="continue from an exported model when the run folder is lost: write its VAE and UNet state"
    )
    seed.add_argument("--model", default=options.EXPORT_DIR, help="the exported model folder")
    seed.add_argument("--save-dir", default=options.SAVE_DIR, help="the run folder to create")
    seed.set_defaults(handler=_seed)

    export = stages.add_parser("export", help="write the diffusers folder checkpoints/sdstudio-emoji")
    options.export_arguments(export)
    export.set_defaults(handler=_export)
