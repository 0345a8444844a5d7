"""``python -m ttfs_symbolic ARGS``: the ``ttfs`` command line (also under ``torchrun -m ttfs_symbolic``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
