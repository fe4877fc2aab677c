"""The resource every span of a reporter carries. Nothing here reads the machine: no host name,
no command line (Red takes ``--token`` there), no resource detectors."""

from __future__ import annotations

import platform
import uuid
from importlib import metadata

from opentelemetry.sdk.resources import Resource

from otel_discord._attributes import INSTALL_ID
from otel_discord._version import __version__

#: Random per process: the "session" of this bot run.
INSTANCE_ID = str(uuid.uuid4())


def _version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_resource(
    service_name: str,
    service_version: str | None,
    install_id: str,
    extra: dict[str, str | int] | None = None,
) -> Resource:
    attributes: dict[str, str | int] = {
        "service.name": service_name,
        "service.instance.id": INSTANCE_ID,
        INSTALL_ID: install_id,
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": _version_of("opentelemetry-sdk") or "unknown",
        "telemetry.distro.name": "otel-discord",
        "telemetry.distro.version": __version__,
        "process.runtime.name": platform.python_implementation().lower(),
        "process.runtime.version": platform.python_version(),
    }
    if service_version:
        attributes["service.version"] = service_version
    discord_version = _version_of("discord.py")
    if discord_version:
        attributes["discord.py.version"] = discord_version
    if extra:
        attributes.update(extra)
    return Resource(attributes)
