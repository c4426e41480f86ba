"""``python -m services`` (``make run``): the whole system as local processes."""

import sys

from services.launcher import main

if __name__ == "__main__":
    sys.exit(main())
