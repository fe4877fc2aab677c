"""Consent in Red's ``Config`` (global scope, one identifier per reporter): a decision made
with ``[p]telemetry`` is on disk in Red's data and is what a new bot object (a restart) reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from redbot.core import data_manager

from otel_discord.red import RedConsentStore, registry
from otel_discord.red._store import CONFIG_COG_NAME, _identifier, config_for
from tests._red import (  # noqa: F401 - Red's fixtures, for this module only
    author_cog,
    config_fr,
    driver,
    forget_red_memory,
    fresh_red_caches,
    new_red,
    override_data_path,
    red,
    replies,
    settle,
    start_red,
    stop_red,
)


@pytest.fixture
async def bot(red: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Any]:  # noqa: F811
    monkeypatch.chdir(tmp_path)
    await start_red(red)
    yield red
    await stop_red(red)


def stored_on_disk(reporter: str) -> dict[str, Any]:
    """The record as Red's JSON driver wrote it to the bot's data folder."""
    path = data_manager.cog_data_path(raw_name=CONFIG_COG_NAME) / "settings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    record: dict[str, Any] = data[str(_identifier(reporter))]["GLOBAL"]["record"]
    return record


async def test_consent_survives_a_new_bot_object(bot: Any) -> None:
    await bot.add_cog(author_cog("alpha", "Alpha")(bot))
    await settle(bot)
    first = registry(bot).reporters["alpha"]
    install_id = first.install_id
    await dpytest.message("?telemetry enable alpha")
    assert replies() == ["alpha: errors on."]
    await stop_red(bot)  # unload: the reporter is flushed, the record written

    forget_red_memory(CONFIG_COG_NAME)  # a restart: only what is in Red's data folder
    again = await start_red(new_red())
    try:
        assert again is not bot and getattr(again, "_otel_discord_red", None) is None
        await again.add_cog(author_cog("alpha", "Alpha")(again))
        second = registry(again).reporters["alpha"]
        assert second is not first
        assert second.enabled
        assert second.install_id == install_id
    finally:
        await stop_red(again)


async def test_decision_is_written_to_reds_data_folder(bot: Any) -> None:
    await bot.add_cog(author_cog("alpha", "Alpha")(bot))
    await settle(bot)
    await dpytest.message("?telemetry enable alpha usage")
    assert replies() == ["alpha: usage on."]
    assert await registry(bot).store.flush(5)
    record = stored_on_disk("alpha")
    assert record["usage"] is True and record["errors"] is False
    assert record["install_id"] == registry(bot).reporters["alpha"].install_id


async def test_save_is_visible_at_once_and_written_in_the_background(bot: Any) -> None:
    store = RedConsentStore()
    record = await store.open("beta")
    decided = record.decided(True)
    store.save(decided)  # sync, on the event loop: must not wait for the driver
    assert store.load("beta") == decided
    assert await store.flush(5)
    assert await config_for("beta").record() == decided.to_json()


async def test_each_reporter_has_its_own_identifier(bot: Any) -> None:
    store = RedConsentStore()
    a = await store.open("alpha")
    b = await store.open("beta")
    store.save(a.decided(True))
    assert await store.flush(5)
    assert (await config_for("alpha").record())["errors"] is True
    assert (await config_for("beta").record())["errors"] is False
    assert a.install_id != b.install_id


async def test_unopened_reporter_reads_as_off_and_nothing_is_written(bot: Any) -> None:
    store = RedConsentStore()
    opened = await store.open("alpha")
    store.save(opened.decided(True))
    assert await store.flush(5)
    fresh = RedConsentStore()  # never opened "alpha": must not overwrite the stored decision
    assert fresh.load("alpha").errors is False
    assert await fresh.flush(5)
    assert (await config_for("alpha").record())["errors"] is True


async def test_unreadable_record_means_off_with_a_warning(
    bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await config_for("alpha").record.set({"errors": "yes", "install_id": "not-a-uuid"})
    store = RedConsentStore()
    record = await store.open("alpha")
    assert record.errors is False
    assert "unreadable" in caplog.text


async def test_open_keeps_a_decision_whose_write_is_still_pending(bot: Any) -> None:
    store = RedConsentStore()
    record = await store.open("alpha")
    store.save(record.decided(True))  # the write task has not run yet
    assert (await store.open("alpha")).errors is True
    assert await store.flush(5)
