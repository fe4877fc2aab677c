"""The ``otel-discord`` command, run as a subprocess against a temporary data dir (the autouse
fixture points ``OTEL_DISCORD_DATA_DIR`` at it) and, for the demo, real OTLP receivers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_discord import JsonConsentStore, Telemetry
from otel_discord.cli import main
from tests._backends import GrpcReceiver, HttpReceiver, free_port
from tests._bugsink import Bugsink

# Synthetic secrets with the real shapes.
SNOWFLAKE = "877633890372550677"
IP = "203.0.113.7"
INVITE = "discord.gg/aBcD123"


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
):
    return subprocess.run(
        [sys.executable, "-m", "otel_discord", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def data_dir() -> Path:
    return Path(os.environ["OTEL_DISCORD_DATA_DIR"])


def stored(reporter: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        JsonConsentStore(data_dir()).path(reporter).read_text(encoding="utf-8")
    )
    return data


def assert_one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


# -- consent ----------------------------------------------------------------------------------


def test_enable_turns_on_errors_in_the_store_a_bot_reads() -> None:
    result = run("enable", "mycog")
    assert result.returncode == 0, result.stderr
    telemetry = Telemetry("mycog", config={"exporters": []})
    try:
        assert telemetry.allows("errors")
        assert not telemetry.allows("usage")
    finally:
        telemetry.shutdown(1)


def test_enable_usage_flag_switches_only_usage() -> None:
    assert run("enable", "mycog", "--usage").returncode == 0
    record = stored("mycog")
    assert (record["errors"], record["usage"]) == (False, True)


def test_disable_withdraws_every_category_by_default() -> None:
    run("enable", "mycog", "--errors", "--usage")
    result = run("disable", "mycog")
    assert result.returncode == 0, result.stderr
    record = stored("mycog")
    assert (record["errors"], record["usage"]) == (False, False)
    assert "errors off, usage off" in result.stdout


def test_data_dir_option_overrides_the_environment(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    assert run("enable", "mycog", "--data-dir", str(other)).returncode == 0
    assert (other / "consent" / "mycog.json").is_file()
    assert not JsonConsentStore(data_dir()).path("mycog").exists()


def test_reset_id_gives_a_new_install_id_and_keeps_consent() -> None:
    run("enable", "mycog")
    before = stored("mycog")
    result = run("reset-id", "mycog")
    after = stored("mycog")
    assert result.returncode == 0, result.stderr
    assert after["install_id"] != before["install_id"]
    assert str(after["install_id"]) in result.stdout
    assert after["errors"] is True
    assert after["secret"] == before["secret"]


def test_enable_into_an_unwritable_data_dir_is_one_line_and_exit_1(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("", encoding="utf-8")
    result = run("enable", "mycog", "--data-dir", str(not_a_dir))
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert result.stderr.startswith(f"otel-discord: error: cannot write {not_a_dir}")


def test_enable_over_a_corrupt_record_says_once_that_it_was_replaced() -> None:
    path = JsonConsentStore(data_dir()).path("mycog")
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    result = run("enable", "mycog")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "was corrupt and has been replaced" in notes[0], result.stdout
    (kept,) = path.parent.glob("mycog.corrupt-*")
    assert str(kept) in notes[0]
    assert kept.read_text(encoding="utf-8") == "{not json"
    assert stored("mycog")["errors"] is True


def test_status_shows_consent_install_id_exporters_and_where_it_is_stored() -> None:
    run("enable", "mycog")
    result = run(
        "status",
        "mycog",
        env={"OTEL_DISCORD_EXPORTERS": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "errors       on" in out
    assert "usage        off" in out
    assert str(stored("mycog")["install_id"]) in out
    assert str(JsonConsentStore(data_dir()).path("mycog")) in out
    assert "otlp (from environment variable OTEL_DISCORD_EXPORTERS)" in out
    assert "http://127.0.0.1:9/v1/traces" in out
    assert "kill switch    none" in out


def test_status_never_prints_the_install_secret() -> None:
    run("enable", "mycog")
    result = run("status")
    assert str(stored("mycog")["secret"]) not in result.stdout


def test_status_names_the_active_kill_switch() -> None:
    result = run("status", env={"DO_NOT_TRACK": "1"})
    assert result.returncode == 0
    assert "kill switch    DO_NOT_TRACK is set: nothing is sent" in result.stdout


def test_status_of_an_unknown_reporter_creates_no_record() -> None:
    result = run("status", "ghost")
    assert result.returncode == 0
    assert "no record yet" in result.stdout
    assert not JsonConsentStore(data_dir()).path("ghost").exists()


def test_status_lists_every_reporter_without_an_argument() -> None:
    run("enable", "alpha")
    run("disable", "beta")
    out = run("status").stdout
    assert "reporter alpha" in out and "reporter beta" in out


def test_status_reports_a_corrupt_record_as_off() -> None:
    path = JsonConsentStore(data_dir()).path("mycog")
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    result = run("status", "mycog")
    assert result.returncode == 0
    assert "corrupt" in result.stdout and "telemetry stays off" in result.stdout


# -- check-config -----------------------------------------------------------------------------


def test_check_config_lists_every_problem_with_its_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text(
        "[otel_discord]\n"
        'exporters = ["console", "pigeon"]\n'
        'otlp_protocol = "udp"\n'
        'otlp_endpiont = "http://127.0.0.1:4318"\n'
        "sampler_arg = 0.5\n"
        "error_limit = 0\n",
        encoding="utf-8",
    )
    result = run("check-config", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:2", "exporters"],
        [f"{path}:3", "otlp_protocol"],
        [f"{path}:4", "otlp_endpiont"],
        [f"{path}:6", "error_limit"],
    ]
    assert "did you mean otlp_endpoint?" in lines[2]
    assert "allowed: grpc or http/protobuf" in lines[1]
    assert "4 problems" in result.stderr


def test_check_config_reports_rules_across_keys(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text('sampler = "always_on"\nexporters = ["sentry"]\n', encoding="utf-8")
    result = run("check-config", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:2: sentry_dsn: needs a Sentry DSN")


def test_check_config_reports_rules_across_keys_beside_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text('exporters = ["sentry"]\notlp_protocol = "udp"\n', encoding="utf-8")
    result = run("check-config", str(path))
    assert result.returncode == 1
    assert [line.split(": ")[0:2] for line in result.stdout.splitlines()] == [
        [f"{path}:1", "sentry_dsn"],
        [f"{path}:2", "otlp_protocol"],
    ]
    assert "2 problems" in result.stderr


def test_check_config_reports_every_rule_across_keys(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text(
        '[otel_discord]\nexporters = ["sentry"]\nshard_id = [0, 9]\nshard_count = 4\n',
        encoding="utf-8",
    )
    result = run("check-config", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:2", "sentry_dsn"],
        [f"{path}:3", "shard_id"],
    ]
    assert "ids below shard_count (4, from this file)" in lines[1]


def test_check_config_names_keys_outside_the_table_as_ignored(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text(
        '# shared file\nsampler = "always_on"\n\n[otel_discord]\nexporters = ["console"]\n'
        '\n[logging]\nlevel = "debug"\n',
        encoding="utf-8",
    )
    result = run("check-config", str(path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:2: sampler: outside [otel_discord], so it is ignored: move it into the table"
    ]


def test_check_config_reports_a_toml_syntax_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text('sampler = "always_on"\nexporters = console\n', encoding="utf-8")
    result = run("check-config", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:2: (syntax): invalid TOML")


def test_check_config_accepts_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text(
        'exporters = ["otlp"]\notlp_endpoint = "http://127.0.0.1:4318"\nsampler_arg = 0.5\n',
        encoding="utf-8",
    )
    result = run("check-config", str(path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"{path}: OK (3 keys)"


def test_check_config_on_a_missing_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run("check-config", str(tmp_path / "absent.toml"))
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "absent.toml: no such file" in result.stderr


# -- scrub ------------------------------------------------------------------------------------


def test_scrub_prints_scrubbed_stdin_and_the_rules_that_fired() -> None:
    text = f"user {SNOWFLAKE} from {IP} posted {INVITE}\nnothing here\n"
    result = run("scrub", stdin=text)
    assert result.returncode == 0
    assert SNOWFLAKE not in result.stdout and IP not in result.stdout
    assert "INVITE" in result.stdout and "IP-ADDRESS" in result.stdout
    assert result.stdout.endswith("nothing here\n")
    assert result.stderr.strip() == "rules fired: discord_id x1, invite x1, ip_address x1"


def test_scrub_reads_a_file_and_says_when_no_rule_fired(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    path.write_text("loop refreshed 12 feeds\n", encoding="utf-8")
    result = run("scrub", str(path))
    assert result.stdout == "loop refreshed 12 feeds\n"
    assert result.stderr.strip() == "rules fired: none"


def test_scrub_key_option_applies_key_rules() -> None:
    result = run("scrub", "--key", "api_key", stdin="sk-live-0123456789\n")
    assert result.stdout == "REDACTED\n"
    assert "secret_key x1" in result.stderr


# -- conventions ------------------------------------------------------------------------------


def test_a_missing_argument_is_a_usage_error_with_exit_2() -> None:
    result = run("enable")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "REPORTER" in result.stderr


@pytest.mark.parametrize("command", ["status", "enable", "disable", "reset-id"])
def test_an_empty_reporter_name_is_a_usage_error_with_exit_2(command: str) -> None:
    result = run(command, " ")
    assert result.returncode == 2
    assert f"usage: otel-discord {command}" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"otel-discord {command}: error: argument REPORTER: the reporter name is empty"
    )
    assert not JsonConsentStore(data_dir()).directory.exists()


def test_demo_with_too_few_iterations_shows_the_demo_usage() -> None:
    result = run("demo", "--iterations", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: otel-discord demo")
    assert "otel-discord demo: error: argument --iterations: at least 3" in result.stderr


@pytest.mark.parametrize(
    "command", ["status", "enable", "disable", "reset-id", "check-config", "scrub", "demo"]
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: otel-discord {command}" in capsys.readouterr().out


def test_a_bad_environment_value_is_one_line_and_exit_1() -> None:
    result = run("status", env={"OTEL_DISCORD_EXPORTERS": "pigeon"})
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "exporters" in result.stderr and "OTEL_DISCORD_EXPORTERS" in result.stderr


# -- demo -------------------------------------------------------------------------------------


def test_demo_prints_spans_and_a_summary_to_the_console() -> None:
    result = run("demo", "--iterations", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "loop refresh_forecasts" in out and "command radar" in out
    assert "Summary" in out
    assert "refresh_forecasts 3 iterations, 1 failed" in out
    assert "loop heartbeat" in out
    assert "sent to:    console" in out
    assert IP not in out  # the failing command's message, scrubbed before the console


def test_demo_out_keeps_its_scrubbed_spans_as_otlp_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run("demo", "--iterations", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if "sent to:    file " in ln]
    path = Path(line.split("sent to:    file ", 1)[1].split(" (OTLP/JSON lines)")[0])
    assert path == out / "spans" / "otel-discord-demo.jsonl"
    text = path.read_text(encoding="utf-8")
    requests = [json.loads(ln) for ln in text.splitlines()]
    names = {
        span["name"]
        for request in requests
        for rs in request["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }
    assert {"loop refresh_forecasts", "command radar"} <= names
    assert IP not in text


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_demo_spans_reach_a_real_otlp_receiver(
    protocol: str, http_receiver: HttpReceiver, grpc_receiver: GrpcReceiver
) -> None:
    receiver = http_receiver if protocol == "http/protobuf" else grpc_receiver
    result = run("demo", "--otlp", receiver.endpoint, "--protocol", protocol, "--iterations", "3")
    assert result.returncode == 0, result.stderr
    spans = receiver.received.wait_for_names(
        "loop refresh_forecasts", "command forecast", "command radar", timeout=5
    )
    loops = [s for s in spans if s["name"] == "loop refresh_forecasts"]
    assert len(loops) == 3
    failed = [s for s in loops if s["attributes"].get("error.type") == "DemoFailure"]
    assert len(failed) == 1
    assert [e["name"] for e in failed[0]["events"]] == ["exception"]
    assert all(s["resource"]["service.name"] == "otel-discord-demo" for s in spans)
    assert "otlp" in result.stdout.split("Summary")[1]
    assert "discord.loop.iteration" not in result.stdout  # no console tree unless asked


def test_demo_exits_1_when_its_otlp_backend_is_down() -> None:
    result = run("demo", "--otlp", f"http://127.0.0.1:{free_port()}", "--iterations", "3")
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "not everything was delivered" in result.stderr


def test_demo_reports_errors_to_a_real_sentry_server(bugsink: Bugsink) -> None:
    # bugsink stores errors only: no OTLP traces endpoint behind its DSN.
    result = run(
        "demo",
        "--sentry-dsn",
        bugsink.dsn("C"),
        "--iterations",
        "3",
        env={"OTEL_DISCORD_SENTRY_TRACES": "false"},
    )
    assert result.returncode == 0, result.stderr
    # Two reports: the failing command and the failing loop iteration.
    deadline = time.monotonic() + 10
    while True:
        demo = [json.dumps(e) for e in bugsink.events("C") if "DemoFailure" in json.dumps(e)]
        if len(demo) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any("tile server timed out" in e for e in demo), [e[:300] for e in demo]
    assert any("radar feed IP-ADDRESS" in e for e in demo)
    assert not any(IP in e for e in demo)
    assert "sentry" in result.stdout.split("Summary")[1]


def test_demo_out_file_holds_only_the_last_run(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    for _ in range(2):
        assert run("demo", "--iterations", "3", "--out", str(out)).returncode == 0
    text = (out / "spans" / "otel-discord-demo.jsonl").read_text(encoding="utf-8")
    assert text.count('"command radar"') == 1


def test_demo_leaves_no_data_dir_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = run("demo", "--iterations", "3", env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    assert list(scratch.iterdir()) == []
    assert "sent to:    file" not in result.stdout


def test_demo_under_a_kill_switch_says_nothing_was_sent_and_exits_1(
    http_receiver: HttpReceiver,
) -> None:
    result = run(
        "demo", "--otlp", http_receiver.endpoint, "--iterations", "3", env={"DO_NOT_TRACK": "1"}
    )
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "DO_NOT_TRACK is set: the kill switch stopped all export" in result.stderr
    summary = result.stdout.split("Summary")[1]
    assert "sent to:    nothing: DO_NOT_TRACK is set" in summary
    assert "reported" not in summary
    assert "sent to:    otlp" not in summary
    time.sleep(0.5)
    assert http_receiver.received.spans() == []


def test_demo_uses_the_exporters_of_otel_discord_exporters(http_receiver: HttpReceiver) -> None:
    result = run(
        "demo",
        "--iterations",
        "3",
        env={
            "OTEL_DISCORD_EXPORTERS": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": http_receiver.endpoint,
        },
    )
    assert result.returncode == 0, result.stderr
    http_receiver.received.wait_for_names("loop refresh_forecasts", "command radar", timeout=5)
    summary = result.stdout.split("Summary")[1]
    assert "sent to:    otlp" in summary
    assert "sent to:    console" not in summary


def test_demo_refuses_the_file_exporter_it_would_delete() -> None:
    result = run("demo", "--iterations", "3", env={"OTEL_DISCORD_EXPORTERS": "console,file"})
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "--out DIR" in result.stderr


def test_status_names_every_active_kill_switch() -> None:
    result = run("status", env={"DO_NOT_TRACK": "1", "OTEL_SDK_DISABLED": "true"})
    assert result.returncode == 0
    assert (
        "kill switch    OTEL_SDK_DISABLED and DO_NOT_TRACK are set: nothing is sent"
        in result.stdout
    )


def test_a_bad_option_value_is_named_by_its_option() -> None:
    result = run("demo", "--otlp", "not a url", "--iterations", "3")
    assert result.returncode == 1
    assert_one_line_error(result.stderr)
    assert "otlp_endpoint: bad value 'not a url' from option --otlp" in result.stderr
    missing = run("status", "--config", "/nonexistent/otel-discord.toml")
    assert missing.returncode == 1
    assert "from option --config" in missing.stderr
