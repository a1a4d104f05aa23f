"""The `--backend` option, importable at parse time (nothing heavy: `sdstudio --help` stays fast)."""

from __future__ import annotations

import argparse
import os

BACKEND_ENV = "SDSTUDIO_BACKEND"
TOKEN_ENV = "SDSTUDIO_BACKEND_TOKEN"


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", default=os.environ.get(BACKEND_ENV, ""), metavar="URL",
        help=f"a ComfyUI server (several: comma-separated) instead of this computer; default ${BACKEND_ENV}; "
             f"a token for it: ${TOKEN_ENV}",
    )


def backend_urls(value: str) -> list[str]:
    return [url for url in value.replace(" ", ",").split(",") if url]
