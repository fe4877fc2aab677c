"""bugsink, a real Sentry-protocol server (Django + SQLite), for the Sentry exporter's tests.

One server per test session, on 127.0.0.1 in a temporary directory, with projects A, B and C.
It runs from its own venv (``.venv-bugsink``, made by ``scripts/test.sh`` from
``requirements/bugsink.txt``) and is stopped by its PID at the end. The local template ingests
synchronously: once the sender's flush returns, the event can be read back through the API.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._backends import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bugsink"
#: "Q" (quiet) is the consent tests' own: no other test sends to it, so a straggling request of
#: an earlier test (the server lives for the session) cannot count against them.
PROJECTS = ("A", "B", "C", "Q")

# Run inside bugsink's venv: migrate both databases, make the projects and an API token, print
# them as one JSON line. One Django process instead of five ``bugsink-manage`` calls.
_SETUP = """
import json, django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
call_command("migrate", "snappea", database="snappea", verbosity=0)
from teams.models import Team
from projects.models import Project
from bsmain.models import AuthToken
team, _ = Team.objects.get_or_create(name="ci")
dsns = {}
for name in %r:
    project, _ = Project.objects.get_or_create(name=name, defaults={"team": team})
    dsns[name] = [project.id, project.dsn]
print(json.dumps({"projects": dsns, "token": AuthToken.create_full_access().token}))
"""


# What the SDK and the server generate per event: random ids and clock readings. A short
# "must vanish" value (say "85a3") turns up in them by chance now and then, so leak checks
# read every other field of the stored event.
_GENERATED_KEYS = frozenset(
    {"event_id", "trace_id", "span_id", "parent_span_id", "timestamp", "start_timestamp",
     "received", "ingest_timestamp"}
)
_RANDOM_ID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I
)  # uuids and 32-hex ids (install id, event id); 16-hex span ids only by their keys above


def without_generated(data: Any) -> Any:
    """``data`` (a stored event) without the ids and timestamps the SDK and server make up."""
    if isinstance(data, dict):
        return {
            k: without_generated(v) for k, v in data.items() if k not in _GENERATED_KEYS
        }
    if isinstance(data, list):
        return [without_generated(v) for v in data]
    if isinstance(data, str) and _RANDOM_ID.fullmatch(data):
        return "<generated id>"
    return data


def stored_text(event: dict[str, Any]) -> str:
    """Every field of a stored event that came from the bot, as one JSON text for leak checks."""
    return json.dumps(without_generated(event), ensure_ascii=False)


@dataclass
class Bugsink:
    """A running bugsink: DSNs of projects A, B, C and readers for what it stored."""

    port: int
    token: str
    projects: dict[str, tuple[int, str]]  # name -> (id, DSN)
    proc: subprocess.Popen[bytes]
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dsn(self, project: str) -> str:
        return self.projects[project][1]

    def project_id(self, project: str) -> int:
        return self.projects[project][0]

    def api(self, path: str, **params: object) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        request = urllib.request.Request(
            f"{self.url}/api/canonical/0/{path}{query}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def issues(self, project: str) -> list[dict[str, Any]]:
        """Every issue of ``project`` (``calculated_type``, ``calculated_value``, ...)."""
        results: list[dict[str, Any]] = self.api("issues/", project=self.project_id(project))[
            "results"
        ]
        return results

    def events(self, project: str) -> list[dict[str, Any]]:
        """The full stored payload (``data``) of every event of ``project``."""
        out: list[dict[str, Any]] = []
        for issue in self.issues(project):
            for summary in self.api("events/", issue=issue["id"])["results"]:
                out.append(self.api(f"events/{summary['id']}/")["data"])
        return out

    def event(self, project: str, event_id: str) -> dict[str, Any]:
        """The stored payload of the event ``event_id`` (hex, with or without dashes)."""
        wanted = event_id.replace("-", "")
        for data in self.events(project):
            if data.get("event_id", "").replace("-", "") == wanted:
                return data
        raise AssertionError(f"event {event_id} not stored in project {project}")

    def wait_for_events(
        self, project: str, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until ``project`` holds at least ``count`` events; return them."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(project)
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"project {project}: {len(events)} events, wanted {count}")
            time.sleep(0.1)

    def requests_seen(self, project: str | None = None) -> int:
        """How many requests reached the server so far (its access log; ``/api/`` reads by the
        tests themselves excluded), or only those to ``project``'s ingest endpoints."""
        log = (self.directory / "access.log").read_text(errors="replace")
        lines = [line for line in log.splitlines() if line and "/api/canonical/" not in line]
        if project is not None:
            path = f" /api/{self.project_id(project)}/"
            lines = [line for line in lines if path in line]
        return len(lines)

    def settled_requests(self, project: str, quiet: float = 1.0, timeout: float = 15.0) -> int:
        """``requests_seen(project)`` once it has not changed for ``quiet`` seconds: what the
        SDK's own worker was still sending has arrived (and been logged)."""
        deadline = time.monotonic() + timeout
        seen, since = self.requests_seen(project), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.requests_seen(project)
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def start_again(self) -> None:
        """Restart on the same port and database (after :meth:`stop`)."""
        self.proc = _spawn(self.directory, self.port)
        _wait_listening(self.proc, self.port, self.directory)


def _bin(name: str) -> str:
    return str(VENV / "bin" / name)


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "OTEL_"))}
    env.update(DJANGO_SETTINGS_MODULE="bugsink_conf", PYTHONPATH=str(directory))
    return env


def _spawn(directory: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(directory / "gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            _bin("gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
            "--access-logfile",
            str(directory / "access.log"),
            "bugsink.wsgi",
        ],
        cwd=directory,
        env=_env(directory),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return proc


def _wait_listening(proc: subprocess.Popen[bytes], port: int, directory: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                "bugsink exited: " + (directory / "gunicorn.log").read_text()[-2000:]
            )
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("bugsink did not start listening")


def start_bugsink(directory: Path) -> Bugsink:
    if not (VENV / "bin" / "gunicorn").exists():
        raise RuntimeError(
            f"{VENV} is missing: python3 -m venv .venv-bugsink && "
            ".venv/bin/uv pip install --python .venv-bugsink/bin/python -r requirements/bugsink.txt"
        )
    port = free_port()
    env = _env(directory)
    subprocess.run(
        [
            _bin("bugsink-create-conf"),
            "--template=local",
            "--host=127.0.0.1",
            f"--port={port}",
        ],
        cwd=directory,
        env=env,
        check=True,
        capture_output=True,
    )
    conf = directory / "bugsink_conf.py"
    conf.write_text(
        conf.read_text().replace("BUGSINK = {", 'BUGSINK = {\n    "PHONEHOME": False,', 1)
    )
    done = subprocess.run(
        [_bin("python"), "-c", _SETUP % (PROJECTS,)],
        cwd=directory,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    setup = json.loads(done.stdout.strip().splitlines()[-1])
    projects = {name: (int(pid), str(dsn)) for name, (pid, dsn) in setup["projects"].items()}
    proc = _spawn(directory, port)
    bugsink = Bugsink(port, setup["token"], projects, proc, directory)
    try:
        _wait_listening(proc, port, directory)
    except BaseException:
        bugsink.stop()
        raise
    return bugsink


@pytest.fixture(scope="session")
def bugsink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bugsink]:
    """One real bugsink for the session, projects A, B and C; stopped by its PID at the end."""
    server = start_bugsink(tmp_path_factory.mktemp("bugsink"))
    try:
        yield server
    finally:
        server.stop()


def envelope_items(raw: bytes) -> list[tuple[dict[str, Any], Any]]:
    """``(item header, payload)`` pairs of one Sentry envelope (JSON payloads decoded)."""
    items: list[tuple[dict[str, Any], Any]] = []
    pos = raw.find(b"\n") + 1  # skip the envelope header
    while 0 < pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        line = raw[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:
            end = raw.find(b"\n", pos)
            end = len(raw) if end < 0 else end
        else:
            end = pos + int(length)
        body = raw[pos:end]
        pos = end + 1
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body
        items.append((header, payload))
    return items


if __name__ == "__main__":  # manual check: python -m tests._bugsink
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        server = start_bugsink(Path(tmp))
        print(f"up in {time.monotonic() - started:.1f}s at {server.url}: {server.projects}")
        server.stop()
        sys.exit(0)
