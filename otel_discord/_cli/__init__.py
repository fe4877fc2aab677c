"""The ``otel-discord`` command's machinery. The entry point is :mod:`otel_discord.cli`."""

from __future__ import annotations


class CliError(Exception):
    """A failure the command reports as one line on stderr, with exit code 1."""
