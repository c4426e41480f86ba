"""`python -m services.feed` (not built yet)."""

import sys

if __name__ == "__main__":
    print("services.feed: not built yet", file=sys.stderr)
    sys.exit(0)
