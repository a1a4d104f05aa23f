"""The command line: `sdstudio generate|img2img|inpaint|interpolate|models|info` over the engine.

Contract: success exits 0; bad input exits 2 with one line on stderr saying what is wrong and
what to do (never a traceback) and writes no partial file.
"""

from __future__ import annotations

import sys

from sdstudio.cli.parser import EXIT_BAD_INPUT, build_parser
from sdstudio.errors import Cancelled, SdStudioError

__all__ = ["EXIT_BAD_INPUT", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # `sdstudio` with options only, or a command group such as `train` alone
        parser.print_help()
        return 0
    try:
        return handler(args)
    except SdStudioError as error:
        # One line even when the message quotes a hostile name (a file or tensor called "a\nb").
        message = str(error).replace("\r", "\\r").replace("\n", "\\n")
        print(f"sdstudio: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled:
        print("sdstudio: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("sdstudio: interrupted", file=sys.stderr)
        return 130
