"""`python -m services.state` (not built yet)."""

import sys

if __name__ == "__main__":
    print("services.state: not built yet", file=sys.stderr)
    sys.exit(0)
