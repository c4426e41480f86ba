"""``python -m shared.client`` = ``pdx-hub``."""

from shared.client.cli import entry

entry()
