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
RUNS = (
    ("otelcol.yaml",),
    ("otelcol.yaml", "no-sentry.yaml"),
    ("otelcol.yaml", "gateway.yaml"),
    ("otelcol.yaml", "no-sentry.yaml", "gateway.yaml"),
    ("otelcol.yaml", "gateway.yaml", "no-sentry.yaml"),
)
#: The placeholder no-sentry.yaml gives the unused Sentry exporter.
PLACEHOLDER_HOST = "sentry.invalid"

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


# -- allowed config keys ----------------------------------------------------------------------
#
# The collector decodes each component's config strictly: an unknown key ("chek_interval") is
# an error at start-up. These are the keys each component type accepts in 0.159.0, from the
# ``mapstructure`` tags of its Config struct (core: opentelemetry-collector v0.159.0, e.g.
# processor/batchprocessor/config.go, internal/memorylimiter/config.go, config/configgrpc,
# config/confighttp, config/configtls/generated_config.go; contrib: the component READMEs and
# config.go). A nested dict is checked too; ``None`` means "a value, not checked further";
# ``ListOf`` is a list whose mapping items follow the schema.


class ListOf:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema


_TLS_COMMON = dict.fromkeys(
    (
        "ca_file",
        "ca_pem",
        "cert_file",
        "cert_pem",
        "cipher_suites",
        "curve_preferences",
        "include_insecure_cipher_suites",
        "include_system_ca_certs_pool",
        "key_file",
        "key_pem",
        "max_version",
        "min_version",
        "reload_interval",
        "tpm",
    )
)
TLS_SERVER = {**_TLS_COMMON, "client_ca_file": None, "client_ca_file_reload": None}
TLS_CLIENT = {
    **_TLS_COMMON,
    "insecure": None,
    "insecure_skip_verify": None,
    "server_name_override": None,
}
_NET = {"endpoint": None, "transport": None, "dialer": None}
GRPC_SERVER = {
    **_NET,
    "tls": TLS_SERVER,
    **dict.fromkeys(
        (
            "max_recv_msg_size_mib",
            "max_concurrent_streams",
            "read_buffer_size",
            "write_buffer_size",
            "keepalive",
            "auth",
            "include_metadata",
            "middlewares",
        )
    ),
}
HTTP_SERVER = {
    **_NET,
    "tls": TLS_SERVER,
    **dict.fromkeys(
        (
            "cors",
            "auth",
            "max_request_body_size",
            "include_metadata",
            "response_headers",
            "compression_algorithms",
            "read_timeout",
            "read_header_timeout",
            "write_timeout",
            "idle_timeout",
            "middlewares",
            "keep_alives_enabled",
            # otlpreceiver's own
            "traces_url_path",
            "metrics_url_path",
            "logs_url_path",
        )
    ),
}
_EXPORTER_HELPER = dict.fromkeys(("timeout", "sending_queue", "retry_on_failure"))
OTLP_GRPC_EXPORTER = {
    **_EXPORTER_HELPER,
    "endpoint": None,
    "tls": TLS_CLIENT,
    "headers": None,
    **dict.fromkeys(
        (
            "compression",
            "keepalive",
            "read_buffer_size",
            "write_buffer_size",
            "wait_for_ready",
            "user_agent",
            "balancer_name",
            "authority",
            "auth",
            "middlewares",
        )
    ),
}
OTLP_HTTP_EXPORTER = {
    **_EXPORTER_HELPER,
    "endpoint": None,
    "tls": TLS_CLIENT,
    "headers": None,
    **dict.fromkeys(
        (
            "proxy_url",
            "read_buffer_size",
            "write_buffer_size",
            "auth",
            "compression",
            "compression_params",
            "max_idle_conns",
            "max_idle_conns_per_host",
            "max_conns_per_host",
            "idle_conn_timeout",
            "disable_keep_alives",
            "http2_read_idle_timeout",
            "http2_ping_timeout",
            "cookies",
            "force_attempt_http2",
            "middlewares",
            "traces_endpoint",
            "metrics_endpoint",
            "logs_endpoint",
            "profiles_endpoint",
            "encoding",
        )
    ),
}
STATEMENT_GROUP = ListOf(dict.fromkeys(("context", "statements", "conditions", "error_mode")))
ALLOWED_KEYS: dict[str, dict[str, dict[str, Any]]] = {
    "receivers": {
        "otlp": {"protocols": {"grpc": GRPC_SERVER, "http": HTTP_SERVER}},
    },
    "processors": {
        "memory_limiter": dict.fromkeys(
            (
                "check_interval",
                "limit_mib",
                "spike_limit_mib",
                "limit_percentage",
                "spike_limit_percentage",
                "min_gc_interval_when_soft_limited",
                "min_gc_interval_when_hard_limited",
                "max_gc_interval_when_soft_limited",
                "max_gc_interval_when_hard_limited",
            )
        ),
        "batch": dict.fromkeys(
            (
                "timeout",
                "send_batch_size",
                "send_batch_max_size",
                "metadata_keys",
                "metadata_cardinality_limit",
            )
        ),
        "redaction": dict.fromkeys(
            (
                "allow_all_keys",
                "allowed_keys",
                "blocked_key_patterns",
                "hash_function",
                "ignored_keys",
                "redact_all_types",
                "blocked_values",
                "allowed_values",
                "db_sanitizer",
                "summary",
                "url_sanitizer",
            )
        ),
        "transform": {
            "error_mode": None,
            "flatten_data": None,
            "trace_statements": STATEMENT_GROUP,
            "metric_statements": STATEMENT_GROUP,
            "log_statements": STATEMENT_GROUP,
            "profile_statements": STATEMENT_GROUP,
        },
        "tail_sampling": {
            **dict.fromkeys(
                (
                    "decision_wait",
                    "num_traces",
                    "expected_new_traces_per_sec",
                    "decision_cache",
                    "block_on_overflow",
                    "sample_on_first_match",
                    "drop_pending_traces_on_shutdown",
                )
            ),
            "policies": ListOf(
                {
                    "name": None,
                    "type": None,
                    "status_code": {"status_codes": None},
                    "probabilistic": {"hash_salt": None, "sampling_percentage": None},
                    "latency": {"threshold_ms": None, "upper_threshold_ms": None},
                }
            ),
        },
    },
    "exporters": {
        "debug": dict.fromkeys(
            (
                "verbosity",
                "sampling_initial",
                "sampling_thereafter",
                "use_internal_logger",
                "output_paths",
                "sending_queue",
            )
        ),
        "otlp_grpc": OTLP_GRPC_EXPORTER,
        "otlp_http": OTLP_HTTP_EXPORTER,
        "load_balancing": {
            **_EXPORTER_HELPER,
            "routing_key": None,
            "routing_attributes": None,
            # "all options from the OTLP exporter", the endpoint coming from the resolver
            "protocol": {"otlp": OTLP_GRPC_EXPORTER},
            "resolver": {
                "static": None,
                "k8s": None,
                "aws_cloud_map": None,
                "dns": dict.fromkeys(("hostname", "port", "interval", "timeout")),
            },
        },
    },
}


def unknown_keys(value: Any, schema: Any, where: str) -> list[str]:
    """Every key of ``value`` that ``schema`` does not allow, as a dotted path."""
    if schema is None or value is None:
        return []
    if isinstance(schema, ListOf):
        assert isinstance(value, list), f"{where} is not a list"
        return [
            bad
            for i, item in enumerate(value)
            if isinstance(item, dict)
            for bad in unknown_keys(item, schema.schema, f"{where}[{i}]")
        ]
    assert isinstance(value, dict), f"{where} is not a mapping"
    bad: list[str] = []
    for key, sub in value.items():
        if key not in schema:
            bad.append(f"{where}.{key}")
        else:
            bad += unknown_keys(sub, schema[key], f"{where}.{key}")
    return bad


def component_key_problems(config: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for kind in ("receivers", "processors", "exporters"):
        for component_id, settings in (config.get(kind) or {}).items():
            schema = ALLOWED_KEYS[kind].get(component_type(component_id))
            assert schema is not None, f"no allowed keys listed for {kind} {component_id}"
            problems += unknown_keys(settings, schema, f"{kind}.{component_id}")
    return problems


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


@pytest.mark.parametrize("files", RUNS[2:], ids="+".join)
def test_gateway_routes_spans_by_trace_id_after_redaction(files: tuple[str, ...]) -> None:
    config = run_config(files)
    forward = config["service"]["pipelines"]["traces/forward"]
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
    # Spans from the bots reach the backends only through the ring (and its sampling).
    pipelines = config["service"]["pipelines"]
    assert {i for i, p in pipelines.items() if "otlp" in p["receivers"]} == {
        "traces/forward",
        "logs",
    }


@pytest.mark.parametrize("files", RUNS[2:], ids="+".join)
def test_gateway_tail_sampling_keeps_every_trace_with_an_error(files: tuple[str, ...]) -> None:
    config = run_config(files)
    sample = config["service"]["pipelines"]["traces"]
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


def test_gateway_keeps_the_exporters_of_the_file_below_it() -> None:
    with_sentry = run_config(("otelcol.yaml", "gateway.yaml"))["service"]["pipelines"]
    assert with_sentry["traces"]["exporters"] == ["otlp_grpc/jaeger", "otlp_http/sentry", "debug"]
    for files in (RUNS[3], RUNS[4]):
        pipelines = run_config(files)["service"]["pipelines"]
        assert pipelines["traces"]["exporters"] == ["otlp_grpc/jaeger", "debug"], files


def _env_value(value: Any) -> Any:
    """A config value as the collector resolves it with none of the variables set: the
    ``:-default`` where one is given, else nothing."""
    if not isinstance(value, str):
        return value
    return _ENV_DEFAULT.sub(lambda m: m.group(1) or "", value)


_ENV_DEFAULT = re.compile(r"\$\{env:[A-Z][A-Z0-9_]*(?::-([^}]*))?\}")


@pytest.mark.parametrize("files", RUNS, ids="+".join)
def test_no_pipeline_exports_to_the_placeholder_sentry_endpoint(files: tuple[str, ...]) -> None:
    config = run_config(files)
    for pipeline_id, pipeline in config["service"]["pipelines"].items():
        for exporter_id in pipeline["exporters"]:
            exporter = config["exporters"][exporter_id] or {}
            endpoint = _env_value(exporter.get("endpoint"))
            assert PLACEHOLDER_HOST not in str(endpoint), (
                f"{'+'.join(files)}: {pipeline_id} sends to {exporter_id} at {endpoint}"
            )


def test_gateway_ring_speaks_mutual_tls_on_both_ends() -> None:
    config = run_config(("otelcol.yaml", "gateway.yaml"))
    server = config["receivers"]["otlp/ring"]["protocols"]["grpc"]["tls"]
    client = config["exporters"]["load_balancing"]["protocol"]["otlp"]["tls"]
    # The receiver serves TLS (a certificate and key) and asks for a client certificate; the
    # exporter verifies it with the same CA and shows the same kind of certificate: one set of
    # files per host, named by the same variables on both ends.
    for settings, names in (
        (server, ("cert_file", "key_file", "client_ca_file")),
        (client, ("cert_file", "key_file", "ca_file")),
    ):
        for name in names:
            assert _ENV_REF.fullmatch(settings[name]), f"{name}: {settings.get(name)!r}"
            assert _env_value(settings[name]) == "", f"{name} has a default path"
    assert client["ca_file"] == server["client_ca_file"]
    assert (client["cert_file"], client["key_file"]) == (server["cert_file"], server["key_file"])
    assert not _env_value(client.get("insecure", False))
    assert not client.get("insecure_skip_verify", False)
    # The resolver hands out IP addresses; the certificate is checked against the ring's name.
    assert (
        client["server_name_override"]
        == (config["exporters"]["load_balancing"]["resolver"]["dns"]["hostname"])
    )
    assert server.get("min_version") == client.get("min_version")


@pytest.mark.parametrize("files", RUNS, ids="+".join)
def test_every_component_key_is_one_the_component_accepts(files: tuple[str, ...]) -> None:
    assert component_key_problems(run_config(files)) == []


def test_key_check_catches_a_misspelt_key() -> None:
    config = run_config(("otelcol.yaml", "gateway.yaml"))
    limiter = config["processors"]["memory_limiter"]
    config["processors"]["memory_limiter"] = {
        "chek_interval": limiter.pop("check_interval"),
        **limiter,
    }
    config["exporters"]["load_balancing"]["protocol"]["otlp"]["tls"]["insecure_skip"] = True
    assert component_key_problems(config) == [
        "processors.memory_limiter.chek_interval",
        "exporters.load_balancing.protocol.otlp.tls.insecure_skip",
    ]


#: OTTL contexts each signal's statements may use in 0.159.0 (transform processor README).
CONTEXTS = {
    "trace_statements": {"resource", "scope", "span", "spanevent"},
    "log_statements": {"resource", "scope", "log"},
}


@pytest.mark.parametrize("group", sorted(CONTEXTS))
def test_transform_statements_use_contexts_of_their_signal(group: str) -> None:
    transform = load("otelcol.yaml")["processors"]["transform"]
    groups = transform.get(group) or []
    for entry in groups:
        assert entry["context"] in CONTEXTS[group], entry["context"]
        assert entry["statements"] and all(isinstance(s, str) for s in entry["statements"])
        for statement in entry["statements"]:
            # Each signal has its own paths: a span path in a log statement fails at start-up.
            assert "span" not in statement.split("(", 1)[1] or group == "trace_statements"


def test_log_records_lose_the_same_resource_keys_as_spans() -> None:
    transform = load("otelcol.yaml")["processors"]["transform"]

    def resource(group: str) -> list[str]:
        (entry,) = [g for g in transform[group] if g["context"] == "resource"]
        statements: list[str] = entry["statements"]
        return statements

    assert resource("log_statements") == resource("trace_statements")


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
