"""Run sdstudio from a source checkout: `python main.py` (the app) or `python main.py generate ...`."""

import sys

from sdstudio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
