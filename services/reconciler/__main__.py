"""`python -m services.reconciler` (not built yet)."""

import sys

if __name__ == "__main__":
    print("services.reconciler: not built yet", file=sys.stderr)
    sys.exit(0)
