"""``python -m proofs``: run every proof, print it, exit 1 if any failed."""
from __future__ import annotations

import sys

from . import ALL


def main() -> int:
    failed = []
    for module in ALL:
        result = module.prove()
        print(result.report())
        print()
        if not result.holds:
            failed.append(result.name)
    print(f"{len(ALL) - len(failed)}/{len(ALL)} proofs hold" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
