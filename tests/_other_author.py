"""A listener that belongs to another author's package (not the reporter's)."""

from __future__ import annotations

import discord
from discord.ext import commands


class OtherAuthorsCog(commands.Cog):
    @commands.Cog.listener("on_message")
    async def explode(self, message: discord.Message) -> None:
        if message.content == "other crash":
            raise RuntimeError("another author's bug")
