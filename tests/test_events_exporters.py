"""Events in the local exporters: OTLP/JSON lines in the file exporter, one line on the console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_discord import Telemetry


def test_file_exporter_writes_events_as_otlp_json_lines(tmp_path: Path) -> None:
    t = Telemetry("filecog", config={"exporters": ["file"], "data_dir": str(tmp_path)})
    t.enable("usage")
    t.record("backup", "restore", metadata={"files": 2})
    assert t.force_flush(5)
    path = tmp_path / "events" / "filecog.jsonl"
    (line,) = path.read_text().splitlines()
    (record,) = json.loads(line)["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert record["eventName"] == "backup.restore"
    attributes = {a["key"]: a["value"] for a in record["attributes"]}
    assert attributes["otel_discord.event.metadata.files"] == {"intValue": "2"}
    t.shutdown(2)


def test_console_exporter_prints_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    t = Telemetry("consolecog", config={"exporters": ["console"]})
    t.enable("usage")
    t.record("music", "skip", metadata={"queued": 5})
    assert t.force_flush(5)
    out = capsys.readouterr().out
    assert "event music.skip [usage] (consolecog) queued=5" in out
    t.shutdown(2)


def test_capture_events_sees_scrubbed_consented_events_synchronously(tmp_path: Path) -> None:
    from otel_discord.testing import capture_events

    t = Telemetry(
        "capcog", config={"exporters": [], "data_dir": str(tmp_path)}, private_metadata=("ip",)
    )
    events = capture_events(t)
    t.record("backup", "skipped")  # no usage consent yet: not captured
    t.enable("usage")
    t.record("backup", "restore", metadata={"files": 3}, private_metadata={"ip": "198.51.100.9"})
    assert events.names() == ["backup.restore"]
    assert events.events[0].metadata == {"files": 3}
    assert events.events[0].private == {"ip": "IP-ADDRESS"}
    t.shutdown(1)
