"""`python -m services.simulator` (not built yet)."""

import sys

if __name__ == "__main__":
    print("services.simulator: not built yet", file=sys.stderr)
    sys.exit(0)
