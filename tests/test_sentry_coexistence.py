"""A host bot with its own Sentry (``sentry_sdk.init``) and its own global ``TracerProvider``,
plus two reporters with their own DSNs: every event lands in its own bugsink project only.

The host runs in a subprocess, so this test process keeps clean Sentry and OpenTelemetry globals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests._bugsink import Bugsink

HOST_BOT = r"""
import json, sys
import sentry_sdk
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

dsn_a, dsn_b, dsn_c, marker = sys.argv[1:]
sentry_sdk.init(dsn=dsn_a, release="hostbot@9.9.9", environment="host-env")
sentry_sdk.set_tag("host_tag", "host-only")
sentry_sdk.set_user({"id": "host-user"})
sentry_sdk.set_extra("host_extra", "host-only")
sentry_sdk.get_global_scope().set_tag("host_global_tag", "host-only")
sentry_sdk.get_global_scope().set_extra("host_global_extra", "host-only")
seen_by_host = []


def host_processor(where):
    def process(event, hint):
        values = [v.get("value", "") for v in event.get("exception", {}).get("values", [])]
        seen_by_host.append([where, *values])
        event.setdefault("tags", {})["host_processor_" + where] = "host-only"
        event.setdefault("extra", {})["host_processor_" + where] = "host-only"
        return event
    return process


from sentry_sdk.scope import add_global_event_processor
add_global_event_processor(host_processor("sdk_global"))
sentry_sdk.get_global_scope().add_event_processor(host_processor("global"))
sentry_sdk.get_isolation_scope().add_event_processor(host_processor("isolation"))
sentry_sdk.get_current_scope().add_event_processor(host_processor("current"))
trace.set_tracer_provider(TracerProvider())
host_tracer = trace.get_tracer("hostbot")

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore


def reporter(name, dsn):
    config = {
        "exporters": ["sentry"], "sentry_dsn": dsn, "sentry_traces": False,
        "enabled": True, "schedule_delay": 0.05,
    }
    return Telemetry(name, version="1.0.0", config=config, consent=MemoryConsentStore())


cog_b, cog_c = reporter("cogb", dsn_b), reporter("cogc", dsn_c)
with host_tracer.start_as_current_span("host handles a message"):
    for telemetry, project in ((cog_b, "B"), (cog_c, "C")):
        try:
            with telemetry.span("command boom", {"discord.kind": "prefix"}):
                raise RuntimeError(f"{marker} from cog {project}")
        except RuntimeError:
            pass
    try:
        raise KeyError(f"{marker} from the host")
    except KeyError as exc:
        host_event = sentry_sdk.capture_exception(exc)

flushed = cog_b.force_flush(5) and cog_c.force_flush(5)
sentry_sdk.flush(5)
client = sentry_sdk.get_client()
print(json.dumps({
    "host_event": host_event,
    "flushed": flushed,
    "global_dsn": client.options["dsn"],
    "global_provider": type(trace.get_tracer_provider()).__name__,
    "install_ids": {"B": cog_b.install_id, "C": cog_c.install_id},
    "seen_by_host": seen_by_host,
}))
cog_b.shutdown(5)
cog_c.shutdown(5)
"""


def values(event: dict[str, Any]) -> str:
    return " ".join(v.get("value", "") for v in event.get("exception", {}).get("values", []))


def marked(bugsink: Bugsink, project: str, marker: str) -> list[dict[str, Any]]:
    return [e for e in bugsink.events(project) if marker in values(e)]


@pytest.fixture(scope="module")
def host_run(bugsink: Bugsink, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "OTEL_"))}
    env["OTEL_DISCORD_DATA_DIR"] = str(tmp_path_factory.mktemp("host-data"))
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            HOST_BOT,
            bugsink.dsn("A"),
            bugsink.dsn("B"),
            bugsink.dsn("C"),
            marker,
        ],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["marker"] = marker
    deadline = time.monotonic() + 10
    while not all(marked(bugsink, p, marker) for p in "ABC") and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


def test_each_reporter_event_lands_only_in_its_own_project(
    bugsink: Bugsink, host_run: dict[str, Any]
) -> None:
    marker = host_run["marker"]
    assert host_run["flushed"]
    (b,) = marked(bugsink, "B", marker)
    (c,) = marked(bugsink, "C", marker)
    assert "from cog B" in values(b)
    assert "from cog C" in values(c)
    assert [values(e) for e in marked(bugsink, "A", marker)] == [f"'{marker} from the host'"]


def test_host_capture_still_goes_to_its_own_project_with_its_own_scope(
    bugsink: Bugsink, host_run: dict[str, Any]
) -> None:
    (host,) = marked(bugsink, "A", host_run["marker"])
    assert host["event_id"].replace("-", "") == host_run["host_event"]
    assert host["release"] == "hostbot@9.9.9"
    assert host["tags"]["host_tag"] == "host-only"
    assert host["user"]["id"] == "host-user"
    assert host_run["global_dsn"] == bugsink.dsn("A")
    assert host_run["global_provider"] == "TracerProvider"


def test_reporter_events_carry_nothing_of_the_host_scope(
    bugsink: Bugsink, host_run: dict[str, Any]
) -> None:
    for project, release in (("B", "cogb@1.0.0"), ("C", "cogc@1.0.0")):
        (event,) = marked(bugsink, project, host_run["marker"])
        assert "host_tag" not in event.get("tags", {})
        assert event["user"] == {"id": host_run["install_ids"][project]}
        assert event["release"] == release
        assert event["environment"] == "production"
        assert "hostbot" not in json.dumps(event)


def test_host_event_processors_never_see_reporter_events(
    bugsink: Bugsink, host_run: dict[str, Any]
) -> None:
    seen = host_run["seen_by_host"]
    # The host's processors ran on the host's own event, on every scope level ...
    host_values = [f"'{host_run['marker']} from the host'"]
    assert sorted(s[0] for s in seen if s[1:] == host_values) == [
        "current", "global", "isolation", "sdk_global"
    ]
    # ... and on nothing else: neither reporter's error went through them.
    assert [s for s in seen if "from cog" in " ".join(s[1:])] == []


def test_reporter_events_carry_no_host_tags_or_extra(
    bugsink: Bugsink, host_run: dict[str, Any]
) -> None:
    (host,) = marked(bugsink, "A", host_run["marker"])
    assert host["tags"]["host_global_tag"] == "host-only"  # the host's scopes were really set
    assert host["extra"]["host_extra"] == "host-only"
    for project in ("B", "C"):
        (event,) = marked(bugsink, project, host_run["marker"])
        assert not [k for k in event.get("tags", {}) if k.startswith("host_")]
        assert not [k for k in event.get("extra", {}) if k.startswith("host_")]
