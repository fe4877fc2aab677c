"""Types shared by the hooks."""

from __future__ import annotations

from typing import Any, TypeAlias

from discord.ext import commands

#: A discord.py bot, sharded or not (Red's bot is an ``AutoShardedBot``).
AnyBot: TypeAlias = commands.Bot | commands.AutoShardedBot

__all__ = ["AnyBot", "is_bot"]


def is_bot(obj: Any) -> bool:
    return isinstance(obj, (commands.Bot, commands.AutoShardedBot))
