"""Configuration: precedence (keyword > environment > file > defaults) and every error path, each
with its message asserted: the key, the bad value, where it came from and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_discord import Telemetry, TelemetryConfigError, load_config
from otel_discord.config import FIELDS, TelemetryConfig, fields_markdown


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "otel.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_dataclass_defaults() -> None:
    config = load_config(environ={})
    for spec in FIELDS:
        assert getattr(config, spec.name) == spec.default, spec.name
        assert getattr(TelemetryConfig(), spec.name) == spec.default, spec.name


def test_keyword_beats_environment_beats_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'schedule_delay = 1.0\nmax_queue_size = 7\nexporters = ["console"]\n',
    )
    env = {"OTEL_DISCORD_SCHEDULE_DELAY": "2.5", "OTEL_DISCORD_MAX_QUEUE_SIZE": "9"}
    config = load_config({"schedule_delay": 3.0}, config_file=path, environ=env)
    assert config.schedule_delay == 3.0
    assert config.max_queue_size == 9
    assert config.exporters == ("console",)
    assert config.sources["schedule_delay"] == "keyword argument"
    assert config.sources["max_queue_size"] == "environment variable OTEL_DISCORD_MAX_QUEUE_SIZE"
    assert config.sources["exporters"] == f"file {path}, line 3"


def test_settings_may_sit_under_an_otel_discord_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[otel_discord]\nenabled = true\nexporters = ['file', 'console']\n")
    config = load_config(config_file=path, environ={})
    assert config.enabled is True
    assert config.exporters == ("file", "console")


def test_standard_otel_variables_are_honoured() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%20def,x-team=ops",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_SERVICE_NAME": "mybot",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_DISCORD_EXPORTERS": "otlp, console",
        "OTEL_DISCORD_ENABLED": "true",
        "OTEL_DISCORD_DATA_DIR": "/srv/bot-data",
    }
    config = load_config(environ=env)
    assert config.otlp_endpoint == "http://collector.example:4318"
    assert config.otlp_protocol == "grpc"
    assert config.otlp_headers == (("api-key", "abc def"), ("x-team", "ops"))
    assert config.otlp_timeout == 2.5
    assert config.service_name == "mybot"
    assert (config.sampler, config.sampler_arg) == ("traceidratio", 0.25)
    assert config.exporters == ("otlp", "console")
    assert config.enabled is True
    assert config.data_dir == Path("/srv/bot-data")


def test_signal_specific_variable_beats_the_generic_one() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces.example:4318/v1/traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic.example:4318",
    }
    assert load_config(environ=env).otlp_endpoint == "http://traces.example:4318/v1/traces"


def test_host_headers_do_not_follow_an_endpoint_set_in_code() -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer host-secret"}
    config = load_config({"otlp_endpoint": "http://127.0.0.1:4318"}, environ=env)
    assert config.otlp_headers == ()


def test_unknown_key_in_file_names_key_file_line_and_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "enabled = true\nexporter = 'otlp'\n")
    with pytest.raises(TelemetryConfigError) as info:
        load_config(config_file=path, environ={})
    message = str(info.value)
    assert message.startswith(f"exporter: bad value 'otlp' from file {path}, line 2; allowed:")
    assert "one of the keys: enabled, exporters," in message
    assert (info.value.key, info.value.source) == ("exporter", f"file {path}, line 2")


def test_unknown_keyword_names_the_keyword() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config({"colour": "blue"}, environ={})
    assert str(info.value).startswith("colour: bad value 'blue' from keyword argument; allowed:")


def test_wrong_type_in_file_names_the_expected_type(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\nschedule_delay = 'soon'\n")
    with pytest.raises(TelemetryConfigError) as info:
        load_config(config_file=path, environ={})
    assert str(info.value) == (
        f"schedule_delay: bad value 'soon' from file {path}, line 3; "
        "allowed: seconds, a number >= 0"
    )


def test_boolean_is_not_accepted_as_a_count() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config({"max_queue_size": True}, environ={})
    assert str(info.value) == (
        "max_queue_size: bad value True from keyword argument; allowed: a whole number >= 1"
    )


def test_bad_url_is_rejected_with_what_is_allowed() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config({"otlp_endpoint": "localhost:4317"}, environ={})
    assert str(info.value) == (
        "otlp_endpoint: bad value 'localhost:4317' from keyword argument; "
        "allowed: an http:// or https:// URL"
    )


def test_url_with_a_bad_port_is_rejected() -> None:
    with pytest.raises(TelemetryConfigError, match="otlp_endpoint: bad value 'http://h:99999'"):
        load_config({"otlp_endpoint": "http://h:99999"}, environ={})


def test_unknown_exporter_lists_the_known_ones() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config({"exporters": ["otlp", "jaeger"]}, environ={})
    assert str(info.value) == (
        "exporters: bad value ['otlp', 'jaeger'] from keyword argument; "
        "allowed: a list drawn from console, file, otlp, sentry"
    )


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'enabled = true\nexporters = ["otlp"\nschedule_delay = 1\n')
    with pytest.raises(TelemetryConfigError) as info:
        load_config(config_file=path, environ={})
    assert info.value.key == "config_file"
    assert info.value.source == f"file {path}, line 3"
    assert str(info.value).startswith(f"config_file: bad value '{path}' from file {path}, line 3")
    assert "allowed: valid TOML (" in str(info.value)


def test_missing_config_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(TelemetryConfigError) as info:
        load_config(config_file=path, environ={})
    assert str(info.value) == (
        f"config_file: bad value '{path}' from keyword argument; "
        "allowed: a readable TOML file (No such file or directory)"
    )


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config(environ={"OTEL_DISCORD_ENABLED": "perhaps"})
    assert str(info.value) == (
        "enabled: bad value 'perhaps' from environment variable OTEL_DISCORD_ENABLED; "
        "allowed: true or false (unset: ask the consent store)"
    )


def test_bad_millisecond_timeout_variable_names_the_variable() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config(environ={"OTEL_EXPORTER_OTLP_TIMEOUT": "ten"})
    assert str(info.value) == (
        "otlp_timeout: bad value 'ten' from environment variable OTEL_EXPORTER_OTLP_TIMEOUT; "
        "allowed: seconds, a number >= 0 (this variable: milliseconds, x0.001 = seconds)"
    )


def test_bad_millisecond_variable_shows_the_value_as_written() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config(environ={"OTEL_EXPORTER_OTLP_TIMEOUT": "-5"})
    assert str(info.value).startswith("otlp_timeout: bad value '-5' from environment variable")


def test_line_is_the_one_in_the_otel_discord_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool]\nenabled = "x"\n\n[otel_discord]\nenabled = "maybe"\n')
    with pytest.raises(TelemetryConfigError) as info:
        load_config(config_file=path, environ={})
    assert info.value.source == f"file {path}, line 5"


def test_unknown_otel_discord_variable_is_one_warning_naming_it_and_never_its_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_dsn = "https://abcdef0123456789synthetic@o1.ingest.sentry.example/1"
    env = {"OTEL_DISCORD_EXPORTER": "otlp", "OTEL_DISCORD_SENTRY_DNS": secret_dsn}
    config = load_config(environ=env)
    load_config(environ=env)
    assert config.exporters == TelemetryConfig().exporters
    assert caplog.text.count("unknown variable OTEL_DISCORD_EXPORTER ignored") == 1
    assert "did you mean OTEL_DISCORD_EXPORTERS?" in caplog.text
    assert "did you mean OTEL_DISCORD_SENTRY_DSN?" in caplog.text
    assert "abcdef0123456789synthetic" not in caplog.text


def test_check_config_never_shows_a_credential_it_rejects(tmp_path: Path) -> None:
    from otel_discord._cli._check import check_file

    path = write(tmp_path, 'sentry_dsn = "ftp://abcdef0123456789synthetic@sentry.example/1"\n')
    problems = check_file(path)[0]
    assert problems and all("abcdef0123456789synthetic" not in str(p) for p in problems)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer hunter2-synthetic,broken"),
        ("OTEL_DISCORD_SENTRY_DSN", "ftp://hunter2synthetic@sentry.example.com/1"),
    ],
)
def test_error_never_repeats_a_credential(variable: str, value: str) -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config(environ={variable: value})
    assert "hunter2" not in str(info.value)
    assert f"(hidden, {len(value)} characters)" in str(info.value)


def test_a_host_sampler_this_package_does_not_build_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(environ={"OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote"})
    assert config.sampler == "parentbased_always_on"
    assert "OTEL_TRACES_SAMPLER=parentbased_jaeger_remote is not built here" in caplog.text


def test_ratio_above_one_is_rejected() -> None:
    with pytest.raises(TelemetryConfigError) as info:
        load_config(environ={"OTEL_TRACES_SAMPLER_ARG": "1.5"})
    assert info.value.source == "environment variable OTEL_TRACES_SAMPLER_ARG"
    assert info.value.allowed == "a ratio from 0 to 1"


def test_telemetry_raises_the_config_error_at_construction(tmp_path: Path) -> None:
    with pytest.raises(TelemetryConfigError, match=r"^otlp_protocol: bad value 'udp'"):
        Telemetry("cfg", config={"otlp_protocol": "udp"})


def test_configuration_page_lists_every_field_exactly() -> None:
    page = Path(__file__).parent.parent / "docs" / "configuration.md"
    text = page.read_text(encoding="utf-8")
    begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
    table = text[text.index(begin) + len(begin) : text.index(end)]
    assert table == fields_markdown(), "regenerate with otel_discord.config.fields_markdown()"
    keys = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert keys == [spec.name for spec in FIELDS]
