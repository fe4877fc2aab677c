"""Consent: off by default, one JSON record per reporter, persisted decisions, kill switches that
always win, and a corrupt or unreadable record that means "not consented" without a crash."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from otel_discord import ConsentRecord, JsonConsentStore, MemoryConsentStore, Telemetry
from otel_discord.consent import kill_switch


def data_dir(tmp_path: Path) -> Path:
    return (
        tmp_path / "otel-discord-data"
    )  # what the autouse fixture points OTEL_DISCORD_DATA_DIR at


def make(name: str = "cog", **config: object) -> Telemetry:
    return Telemetry(name, config={"exporters": [], **config})


def test_consent_is_off_by_default_and_a_record_is_created(tmp_path: Path) -> None:
    telemetry = make()
    assert not telemetry.enabled
    stored = json.loads((data_dir(tmp_path) / "consent" / "cog.json").read_text())
    assert stored["errors"] is False and stored["usage"] is False
    assert uuid.UUID(stored["install_id"]).version == 4
    telemetry.shutdown(1)


def test_enable_is_persisted_for_a_new_reporter_on_the_same_data_dir() -> None:
    first = make()
    first.enable()
    assert first.enabled
    second = make()
    assert second.enabled
    assert second.install_id == first.install_id
    first.shutdown(1)
    second.shutdown(1)


def test_disable_is_persisted_for_a_new_reporter_on_the_same_data_dir() -> None:
    first = make()
    first.enable()
    first.disable()
    assert not first.enabled
    assert not make().enabled
    first.shutdown(1)


def test_decision_is_stamped_with_the_time() -> None:
    telemetry = make()
    assert telemetry.consent_record.decided_at is None
    telemetry.enable()
    assert telemetry.consent_record.decided_at is not None
    telemetry.shutdown(1)


def test_reporters_have_separate_records(tmp_path: Path) -> None:
    a, b = make("cog-a"), make("cog-b")
    a.enable()
    assert a.enabled and not b.enabled
    assert a.install_id != b.install_id
    assert sorted(p.name for p in (data_dir(tmp_path) / "consent").glob("*.json")) == [
        "cog-a.json",
        "cog-b.json",
    ]
    a.shutdown(1)
    b.shutdown(1)


def test_reset_install_id_gives_a_new_random_id_that_persists() -> None:
    telemetry = make()
    old = telemetry.install_id
    new = telemetry.reset_install_id()
    assert new != old and uuid.UUID(new).version == 4
    assert make().install_id == new
    telemetry.shutdown(1)


def test_notified_cogs_round_trip(tmp_path: Path) -> None:
    store = JsonConsentStore(tmp_path)
    record = ConsentRecord("cog", notified=("Music", "Admin"))
    store.save(record)
    assert JsonConsentStore(tmp_path).load("cog").notified == ("Music", "Admin")


def test_the_secret_never_shows_in_repr() -> None:
    record = ConsentRecord("cog")
    assert record.secret not in repr(record)


@pytest.mark.parametrize(
    ("variable", "value"), [("OTEL_SDK_DISABLED", "true"), ("DO_NOT_TRACK", "1")]
)
def test_kill_switch_beats_consent(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    telemetry = make()
    telemetry.enable()
    assert telemetry.enabled
    monkeypatch.setenv(variable, value)
    assert kill_switch() == variable
    assert not telemetry.enabled
    assert not telemetry.allows("usage")
    telemetry.shutdown(1)


def test_kill_switch_beats_enabled_true_in_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    telemetry = make(enabled=True)
    assert not telemetry.enabled
    telemetry.shutdown(1)


def test_otel_sdk_disabled_other_than_true_is_no_kill_switch() -> None:
    assert kill_switch({"OTEL_SDK_DISABLED": "false", "DO_NOT_TRACK": "0"}) is None


def test_enabled_false_in_config_beats_the_owners_consent() -> None:
    make().enable()
    assert not make(enabled=False).enabled


def test_enabled_true_in_config_needs_no_record() -> None:
    telemetry = Telemetry(
        "dev-bot", config={"exporters": [], "enabled": True}, consent=MemoryConsentStore()
    )
    assert telemetry.enabled
    telemetry.shutdown(1)


def test_corrupt_record_means_not_consented_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = data_dir(tmp_path) / "consent" / "cog.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"errors": true, "install_id": ')
    store = JsonConsentStore(data_dir(tmp_path))
    with caplog.at_level(logging.WARNING, logger="otel_discord.consent"):
        records = [store.load("cog") for _ in range(3)]
    assert not any(r.errors for r in records)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "is corrupt" in warnings[0].getMessage() and str(path) in warnings[0].getMessage()


def test_record_with_wrong_types_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "consent" / "cog.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"errors": "yes", "install_id": str(uuid.uuid4())}))
    assert JsonConsentStore(tmp_path).load("cog").errors is False


def test_reporter_with_corrupt_record_starts_disabled(tmp_path: Path) -> None:
    path = data_dir(tmp_path) / "consent" / "cog.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe not json")
    telemetry = make()
    assert not telemetry.enabled
    with telemetry.span("no crash"):
        pass
    telemetry.shutdown(1)


def test_unreadable_record_means_not_consented_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory where the file should be: unreadable even for root (chmod would not stop root).
    (tmp_path / "consent" / "cog.json").mkdir(parents=True)
    store = JsonConsentStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="otel_discord.consent"):
        assert not store.load("cog").errors
        assert not store.load("cog").errors
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and "cannot read consent record" in messages[0]


def test_corrupt_record_is_set_aside_on_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "consent" / "cog.json"
    path.parent.mkdir(parents=True)
    path.write_text("garbage")
    store = JsonConsentStore(tmp_path)
    store.save(store.load("cog").decided(True))
    (aside,) = path.parent.glob("cog.corrupt-*")
    assert aside.read_text() == "garbage"
    assert store.load("cog").errors is True


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = JsonConsentStore(tmp_path)
    for enabled in (True, False, True):
        store.save(store.load("cog").decided(enabled))
    assert [p.name for p in (tmp_path / "consent").iterdir()] == ["cog.json"]


def test_reporter_name_cannot_escape_the_consent_directory(tmp_path: Path) -> None:
    store = JsonConsentStore(tmp_path)
    assert store.path("../../etc/passwd").parent == tmp_path / "consent"


def test_unknown_category_is_rejected() -> None:
    telemetry = make()
    with pytest.raises(ValueError, match="unknown consent category 'metrics'"):
        telemetry.enable("metrics")
    telemetry.shutdown(1)


def test_a_record_from_before_per_category_decisions_counts_as_decided(tmp_path: Path) -> None:
    store = JsonConsentStore(tmp_path)
    record = store.load("cog").decided(False)
    legacy = {k: v for k, v in record.to_json().items() if k != "decided"}
    store.path("cog").write_text(json.dumps(legacy), encoding="utf-8")
    assert store.load("cog").decided_categories == ("errors", "usage")


@pytest.mark.parametrize(("first", "second"), [("a/b", "a_b"), ("x" * 100, "x" * 100 + "y")])
def test_reporter_names_never_share_a_record(tmp_path: Path, first: str, second: str) -> None:
    store = JsonConsentStore(tmp_path)
    store.save(store.load(first).decided(True))
    assert store.path(first) != store.path(second)
    assert not store.load(second).errors


def test_a_record_under_the_file_name_used_before_digests_keeps_its_decision(
    tmp_path: Path,
) -> None:
    store = JsonConsentStore(tmp_path)
    record = store.load("My Cog").decided(False, ("errors", "usage"))
    legacy = tmp_path / "consent" / "My_Cog.json"
    store.path("My Cog").unlink()
    legacy.write_text(json.dumps(record.to_json()), encoding="utf-8")

    loaded = JsonConsentStore(tmp_path).load("My Cog")
    assert loaded.install_id == record.install_id
    assert loaded.decided_categories == ("errors", "usage") and not loaded.errors
    assert not legacy.exists() and store.path("My Cog").exists()
    config = {"exporters": [], "enabled": True, "data_dir": str(tmp_path)}
    telemetry = Telemetry("My Cog", config=config)
    assert not telemetry.enabled  # the owner's "no" still outranks enabled = true
    telemetry.shutdown(1)


def test_a_legacy_file_of_another_reporter_is_left_to_it(tmp_path: Path) -> None:
    store = JsonConsentStore(tmp_path)
    store.save(store.load("My_Cog").decided(True))
    assert not store.load("My Cog").errors
    assert store.load("My_Cog").errors
