"""The shipped collector configs (collector/*.yaml), checked without the real OpenTelemetry
Collector, which cannot run on these machines: structure, component names of the targeted
Collector Contrib release, explicit receiver endpoints, destinations and secrets only from the
environment, and processor order. Regex parity with the client scrubber is in
``test_collector_redaction.py``; the OTLP path through a real collector (rotel) in
``test_collector_e2e.py``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

COLLECTOR = Path(__file__).resolve().parent.parent / "collector"
CONFIGS = ("otelcol.yaml", "gateway.yaml", "no-sentry.yaml")
#: What a user runs: otelcol.yaml alone or with an overlay merged on top (``--config`` twice).
RUNS = (("otelcol.yaml",), ("otelcol.yaml", "no-sentry.yaml"), ("otelcol.yaml", "gateway.yaml"))

#: The targeted release. Its component types, with the Go module each comes from, as listed in
#: the otelcol-contrib 0.159.0 build manifest (opentelemetry-collector-releases,
#: distributions/otelcol-contrib/manifest.yaml at tag v0.159.0) and named by each module's
#: metadata.yaml ``type`` in that release (core modules: opentelemetry-collector v0.159.0;
#: contrib: the component READMEs). Only the components these configs may use are listed.
CONTRIB_VERSION = "0.159.0"
COMPONENTS: dict[str, dict[str, str]] = {
    "receivers": {
        "otlp": "go.opentelemetry.io/collector/receiver/otlpreceiver",
    },
    "processors": {
        "batch": "go.opentelemetry.io/collector/processor/batchprocessor",
        "memory_limiter": "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
        "redaction": "github.com/open-telemetry/opentelemetry-collector-contrib/processor/"
        "redactionprocessor",
        "transform": "github.com/open-telemetry/opentelemetry-collector-contrib/processor/"
        "transformprocessor",
        "tail_sampling": "github.com/open-telemetry/opentelemetry-collector-contrib/processor/"
        "tailsamplingprocessor",
    },
    "exporters": {
        "debug": "go.opentelemetry.io/collector/exporter/debugexporter",
        "otlp_grpc": "go.opentelemetry.io/collector/exporter/otlpexporter",
        "otlp_http": "go.opentelemetry.io/collector/exporter/otlphttpexporter",
        "load_balancing": "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/"
        "loadbalancingexporter",
    },
    "extensions": {},
    "connectors": {},
}
#: Old names that still load in 0.159.0 but log a deprecation warning and will be removed.
DEPRECATED = {
    "exporters": {"otlp": "otlp_grpc", "otlphttp": "otlp_http", "loadbalancing": "load_balancing"},
}


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((COLLECTOR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def merge(base: Any, overlay: Any) -> Any:
    """The collector's merge of several ``--config`` files: maps merge, anything else is
    replaced (lists included)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return overlay


def run_config(files: tuple[str, ...]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in files:
        config = merge(config, load(name))
    return config


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


_ENV_REF = re.compile(r"\$\{env:([A-Z][A-Z0-9_]*)(?::-[^}]*)?\}")


@pytest.mark.parametrize("name", CONFIGS)
def test_collector_file_parses_as_a_mapping(name: str) -> None:
    data = load(name)
    assert set(data) <= {
        "receivers",
        "processors",
        "exporters",
        "extensions",
        "connectors",
        "service",
    }


@pytest.mark.parametrize("files", RUNS, ids="+".join)
def test_every_pipeline_component_is_defined(files: tuple[str, ...]) -> None:
    config = run_config(files)
    pipelines = config["service"]["pipelines"]
    assert pipelines
    for pipeline_id, pipeline in pipelines.items():
        assert pipeline["receivers"] and pipeline["exporters"], pipeline_id
        for kind in ("receivers", "processors", "exporters"):
            for ref in pipeline.get(kind, []):
                assert ref in config.get(kind, {}), f"{pipeline_id} uses undefined {kind} {ref}"


@pytest.mark.parametrize("name", CONFIGS)
def test_every_component_type_exists_in_the_targeted_contrib_release(name: str) -> None:
    for kind, components in load(name).items():
        if kind == "service":
            continue
        for component_id in components:
            ctype = component_type(component_id)
            renamed = DEPRECATED.get(kind, {}).get(ctype)
            assert renamed is None, f"{name}: {kind} {ctype} is deprecated, use {renamed}"
            assert ctype in COMPONENTS[kind], (
                f"{name}: no {kind} type {ctype!r} in {CONTRIB_VERSION}"
            )


@pytest.mark.parametrize("files", RUNS, ids="+".join)
def test_receivers_bind_explicit_endpoints(files: tuple[str, ...]) -> None:
    receivers = run_config(files)["receivers"]
    for receiver_id, receiver in receivers.items():
        protocols = receiver["protocols"]
        assert protocols, receiver_id
        for protocol, settings in protocols.items():
            endpoint = (settings or {}).get("endpoint")
            assert isinstance(endpoint, str), f"{receiver_id}.{protocol} binds a default endpoint"
            host, _, port = endpoint.rpartition(":")
            assert host and port.isdigit(), f"{receiver_id}.{protocol}: {endpoint!r}"


def test_bots_reach_the_collector_on_the_standard_otlp_ports() -> None:
    protocols = load("otelcol.yaml")["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")


@pytest.mark.parametrize("name", CONFIGS)
def test_exporter_destinations_and_credentials_come_from_the_environment(name: str) -> None:
    for exporter_id, exporter in load(name).get("exporters", {}).items():
        settings = dict(exporter or {})
        resolver = settings.get("resolver", {})
        values = {
            "endpoint": settings.get("endpoint"),
            "hostname": resolver.get("dns", {}).get("hostname"),
            **{f"header {k}": v for k, v in (settings.get("headers") or {}).items()},
        }
        assert "static" not in resolver, f"{exporter_id}: literal backend list"
        for what, value in values.items():
            if value is None:
                continue
            assert _ENV_REF.search(value), f"{name}: {exporter_id} {what} is a literal: {value!r}"


@pytest.mark.parametrize("name", (*CONFIGS, "docker-compose.yaml", "README.md"))
def test_no_literal_secret_in_shipped_collector_files(name: str) -> None:
    text = (COLLECTOR / name).read_text(encoding="utf-8")
    # What a pasted secret looks like; the files hold regexes and ${env:...} references only.
    assert not re.search(r"sentry_key=[0-9a-f]{16,}", text)
    assert not re.search(r"https?://[0-9a-f]{16,}@", text)  # a DSN
    assert not re.search(r"(?<![\w{-])[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,38}(?![\w-])", text)
    assert not re.search(r"discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/[\w-]{20,}", text)
    assert not re.search(r"(?i)bearer [a-z0-9._-]{16,}", text)


def test_each_signal_runs_memory_limiter_redaction_transform_then_batch() -> None:
    pipelines = load("otelcol.yaml")["service"]["pipelines"]
    assert set(pipelines) == {"traces", "logs"}
    for pipeline in pipelines.values():
        assert pipeline["processors"] == ["memory_limiter", "redaction", "transform", "batch"]


def test_traces_go_to_jaeger_sentry_and_debug() -> None:
    config = load("otelcol.yaml")
    assert config["service"]["pipelines"]["traces"]["exporters"] == [
        "otlp_grpc/jaeger",
        "otlp_http/sentry",
        "debug",
    ]
    sentry = config["exporters"]["otlp_http/sentry"]
    assert sentry["endpoint"] == "${env:SENTRY_OTLP_ENDPOINT}"
    assert sentry["headers"] == {"x-sentry-auth": "sentry sentry_key=${env:SENTRY_PUBLIC_KEY}"}


def test_redaction_masks_values_of_every_key() -> None:
    redaction = load("otelcol.yaml")["processors"]["redaction"]
    # allowed_keys would otherwise fail closed and delete every attribute the client sends.
    assert redaction["allow_all_keys"] is True
    assert redaction["blocked_values"]
    assert redaction["summary"] in ("info", "silent")  # "debug" lists the masked keys


def test_no_sentry_overlay_sends_nothing_to_sentry() -> None:
    config = run_config(("otelcol.yaml", "no-sentry.yaml"))
    used = {e for p in config["service"]["pipelines"].values() for e in p["exporters"]}
    assert used == {"otlp_grpc/jaeger", "debug"}
    assert config["service"]["pipelines"]["traces"]["processors"] == [
        "memory_limiter",
        "redaction",
        "transform",
        "batch",
    ]


def test_gateway_routes_spans_by_trace_id_after_redaction() -> None:
    config = run_config(("otelcol.yaml", "gateway.yaml"))
    forward = config["service"]["pipelines"]["traces"]
    assert forward["receivers"] == ["otlp"]
    assert forward["processors"][:3] == ["memory_limiter", "redaction", "transform"]
    assert forward["exporters"] == ["load_balancing"]
    balancer = config["exporters"]["load_balancing"]
    assert balancer["routing_key"] == "traceID"
    assert set(balancer["resolver"]) == {"dns"}
    ring_port = balancer["resolver"]["dns"]["port"]
    assert config["receivers"]["otlp/ring"]["protocols"]["grpc"]["endpoint"].endswith(
        f":{ring_port}"
    )


def test_gateway_tail_sampling_keeps_every_trace_with_an_error() -> None:
    config = run_config(("otelcol.yaml", "gateway.yaml"))
    sample = config["service"]["pipelines"]["traces/sample"]
    assert sample["receivers"] == ["otlp/ring"]
    assert sample["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    policies = config["processors"]["tail_sampling"]["policies"]
    errors = [p for p in policies if p["type"] == "status_code"]
    assert errors and errors[0]["status_code"]["status_codes"] == ["ERROR"]
    # Policies are OR-ed: no "and"/"drop" policy may veto the error policy.
    assert {p["type"] for p in policies} <= {"status_code", "probabilistic", "latency"}
    # Error reports and events (log records) are never sampled away.
    assert config["service"]["pipelines"]["logs"]["processors"] == [
        "memory_limiter",
        "redaction",
        "transform",
        "batch",
    ]


def test_compose_runs_the_targeted_collector_in_front_of_jaeger_v2() -> None:
    compose = load("docker-compose.yaml")
    services = compose["services"]
    collector, jaeger = services["collector"], services["jaeger"]
    assert collector["image"] == f"otel/opentelemetry-collector-contrib:{CONTRIB_VERSION}"
    assert re.fullmatch(r"cr\.jaegertracing\.io/jaegertracing/jaeger:2\.\d+\.\d+", jaeger["image"])
    assert "127.0.0.1:16686:16686" in jaeger["ports"]
    published = [p.split("#")[0].strip() for p in collector["ports"]]
    assert published == ["127.0.0.1:4317:4317", "127.0.0.1:4318:4318"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port} is published on every interface"
    for volume in collector["volumes"]:
        source = volume.split(":", 1)[0]
        assert (COLLECTOR / source).is_file(), f"compose mounts missing {source}"
    assert collector["environment"]["JAEGER_OTLP_ENDPOINT"] == "jaeger:4317"


def test_targeted_version_is_stated_where_users_look() -> None:
    for name in ("otelcol.yaml", "gateway.yaml", "README.md"):
        text = (COLLECTOR / name).read_text(encoding="utf-8")
        assert f"Contrib {CONTRIB_VERSION} or newer" in " ".join(text.split()), name
