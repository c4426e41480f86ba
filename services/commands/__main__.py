"""`python -m services.commands` (not built yet)."""

import sys

if __name__ == "__main__":
    print("services.commands: not built yet", file=sys.stderr)
    sys.exit(0)
