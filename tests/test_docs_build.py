"""The documentation site builds with ``mkdocs build --strict`` (mkdocstrings included), every
page is in the nav, and the quick start's discord.py code runs as written."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import yaml

from otel_discord.testing import capture_spans

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
    )


def nav_pages(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return {page for item in nav for page in nav_pages(item)}
    if isinstance(nav, dict):
        return {page for value in nav.values() for page in nav_pages(value)}
    return set()


def test_docs_build_strict(tmp_path: Path) -> None:
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8")
    assert "instrument_cog" in reference  # mkdocstrings rendered the API
    assert (tmp_path / "site" / "what-is-sent" / "index.html").is_file()


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """The build above can fail: the same site with one dead link does."""
    copy = tmp_path / "project"
    shutil.copytree(DOCS, copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / "otel_discord").symlink_to(ROOT / "otel_discord")
    page = copy / "docs" / "cli.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    listed = nav_pages(config["nav"])
    assert pages - listed == set(), "pages missing from the nav in mkdocs.yml"
    assert listed - pages == set(), "nav entries without a page"


def quickstart_block(heading: str) -> str:
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, f"no python block under {heading}"
    return str(blocks[0])


async def test_quickstart_discord_code_runs_as_written(tmp_path: Path) -> None:
    import discord
    import discord.ext.test as dpytest
    from discord.ext import commands

    module = types.ModuleType("quickstart_weather")
    exec(compile(quickstart_block("discord.py"), "quickstart.md", "exec"), module.__dict__)
    telemetry = module.telemetry
    telemetry.enable()  # the owner opts in (the autouse fixture gives a temporary data dir)
    spans = capture_spans(telemetry)

    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True  # dpytest's simulated member
    bot = commands.Bot(command_prefix="!", intents=intents)
    await bot._async_setup_hook()
    dpytest.configure(bot)
    await module.setup(bot)
    await dpytest.message("!forecast Bergen")
    assert dpytest.verify().message().content("Bergen: sunny")
    for _ in range(100):  # the loop's first iteration runs at once
        if "loop refresh" in spans.names():
            break
        await asyncio.sleep(0.01)
    await bot.remove_cog("Weather")  # cog_unload: cancels the loop, shuts the reporter down
    assert "loop refresh" in spans.names()
    assert "download" in spans.names()
    assert telemetry.enabled is False  # shut down: nothing more is exported


def test_quickstart_red_code_imports_and_calls_the_real_api() -> None:
    """Red's own fixtures drive the example cog in the Red tests; here the quick start's block
    is executed and its calls checked against the real signatures of ``attach``/``detach``."""
    import inspect

    from discord.ext import tasks

    module = types.ModuleType("quickstart_red")
    exec(compile(quickstart_block("Red-DiscordBot"), "quickstart.md", "exec"), module.__dict__)
    assert isinstance(module.Weather.refresh, tasks.Loop)
    attach = inspect.signature(module.otel_red.attach)
    attach.bind(object(), object(), "weather", version="1.2.0")
    inspect.signature(module.otel_red.detach).bind(object(), object(), timeout=5.0)
