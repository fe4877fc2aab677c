"""The offline demo as a script: the same as ``otel-discord demo`` (arguments are passed on).

The bot, its ``Weather`` cog and the scenario live in ``otel_discord/_cli/_demo.py``, so the
installed command needs no checkout. Run: ``python examples/demo.py [--otlp URL]``.
"""

from __future__ import annotations

import sys

from otel_discord.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
