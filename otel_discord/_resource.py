"""The resource every span of a reporter carries. Nothing here reads the machine: no host name,
no command line (Red takes ``--token`` there), no resource detectors."""

from __future__ import annotations

import functools
import platform
import uuid
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata

from opentelemetry.sdk.resources import Resource

from otel_discord._attributes import (
    DISCORD_CLUSTER,
    DISCORD_SHARD_COUNT,
    DISCORD_SHARD_ID,
    INSTALL_ID,
)
from otel_discord._version import __version__

#: Random per process: the "session" of this bot run.
INSTANCE_ID = str(uuid.uuid4())


@functools.cache
def package_version(dist: str) -> str | None:
    """The installed version of ``dist``, or None. Cached: reading package metadata scans
    ``sys.path``, and the start-up event asks on the bot's loop."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


ResourceValue = str | int | Sequence[int]


def shard_attributes(
    shard_ids: int | Iterable[int] | None = None,
    shard_count: int | None = None,
    cluster: str | None = None,
) -> dict[str, ResourceValue]:
    """``discord.shard.id`` (an int for one shard, a sorted list for several),
    ``discord.shard.count`` and ``discord.cluster``, for what is known. Bad values are left
    out rather than raised, since this runs inside bot start-up: negative numbers, ``bool``, and
    both ids and count when an id is not below the count."""
    attributes: dict[str, ResourceValue] = {}
    candidates: Iterable[object] = ()
    if isinstance(shard_ids, int):
        candidates = (shard_ids,)
    elif shard_ids is not None and not isinstance(shard_ids, (str, bytes)):
        candidates = shard_ids
    try:
        ids = sorted(
            {i for i in candidates if isinstance(i, int) and not isinstance(i, bool) and i >= 0}
        )
    except TypeError:
        ids = []
    count = shard_count
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        count = None
    if count is not None and any(i >= count for i in ids):
        ids, count = [], None  # one of them is wrong, and nothing says which
    if ids:
        attributes[DISCORD_SHARD_ID] = ids[0] if len(ids) == 1 else tuple(ids)
    if count is not None:
        attributes[DISCORD_SHARD_COUNT] = count
    if isinstance(cluster, str) and cluster.strip():
        attributes[DISCORD_CLUSTER] = cluster.strip()
    return attributes


def with_shards(
    resource: Resource,
    shard_ids: int | Iterable[int] | None = None,
    shard_count: int | None = None,
    cluster: str | None = None,
    *,
    keep: Mapping[str, object] | None = None,
) -> Resource:
    """``resource`` with the shard attributes added; keys present in ``keep`` (what the
    operator configured) are never replaced."""
    extra = {
        k: v
        for k, v in shard_attributes(shard_ids, shard_count, cluster).items()
        if keep is None or k not in keep
    }
    return resource.merge(Resource(extra)) if extra else resource


def build_resource(
    service_name: str,
    service_version: str | None,
    install_id: str,
    extra: dict[str, str | int] | None = None,
    *,
    shard_ids: int | Iterable[int] | None = None,
    shard_count: int | None = None,
    cluster: str | None = None,
) -> Resource:
    attributes: dict[str, str | int] = {
        "service.name": service_name,
        "service.instance.id": INSTANCE_ID,
        INSTALL_ID: install_id,
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": package_version("opentelemetry-sdk") or "unknown",
        "telemetry.distro.name": "otel-discord",
        "telemetry.distro.version": __version__,
        "process.runtime.name": platform.python_implementation().lower(),
        "process.runtime.version": platform.python_version(),
    }
    if service_version:
        attributes["service.version"] = service_version
    discord_version = package_version("discord.py")
    if discord_version:
        attributes["discord.py.version"] = discord_version
    if extra:
        attributes.update(extra)
    return with_shards(Resource(attributes), shard_ids, shard_count, cluster)
