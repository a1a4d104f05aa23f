"""Entry point: `sdstudio` alone opens the app; `sdstudio COMMAND ...` runs the CLI."""

from __future__ import annotations

import sys

from sdstudio.engine.allocator import keep_freed_memory


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # before any thread exists (see engine.allocator)
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from sdstudio.app import main as app_main

        app_main()  # ends the process itself, without the slow interpreter teardown
    from sdstudio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
