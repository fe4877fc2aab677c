"""Scrubber.scrub_data: deep walk of JSON-like data (whole Sentry events), fail-closed."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from otel_discord.scrubbing import Scrubber, default_rules
from tests.scrub_corpus import SHAPED_TOKEN

IP = "203.0.113.42"
EMAIL = "rinoa@example.com"
SNOWFLAKE = 877633890372550677


def scrubber() -> Scrubber:
    return Scrubber(default_rules())


def test_nested_lists_of_dicts_are_walked() -> None:
    event = {
        "exception": {
            "values": [
                {
                    "value": f"connect to {IP} failed",
                    "stacktrace": {"frames": [{"vars": {"who": EMAIL}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": f"token {SHAPED_TOKEN}"}]},
    }
    out = scrubber().scrub_data(event)
    text = repr(out)
    assert IP not in text and EMAIL not in text and SHAPED_TOKEN not in text
    assert out["exception"]["values"][0]["value"] == "connect to IP-ADDRESS failed"


def test_container_types_are_kept() -> None:
    out = scrubber().scrub_data({"l": [IP], "t": (IP,), "s": {IP}, "f": frozenset({IP})})
    assert out == {
        "l": ["IP-ADDRESS"],
        "t": ("IP-ADDRESS",),
        "s": {"IP-ADDRESS"},
        "f": frozenset({"IP-ADDRESS"}),
    }


def test_secret_named_key_loses_its_whole_value_even_a_container() -> None:
    out = scrubber().scrub_data({"headers": {"Authorization": "x", "X-Api-Key": ["a", "b"]}})
    assert out == {"headers": {"Authorization": "REDACTED", "X-Api-Key": "REDACTED"}}


def test_keys_are_scrubbed_too() -> None:
    out = scrubber().scrub_data({f"peer {IP}": 1, SNOWFLAKE: "guild"})
    assert IP not in repr(out) and str(SNOWFLAKE) not in repr(out)
    assert out["peer IP-ADDRESS"] == 1


def test_integer_discord_ids_become_markers_other_numbers_stay() -> None:
    out = scrubber().scrub_data({"user": SNOWFLAKE, "n": 3, "f": 1.5, "b": True, "none": None})
    assert isinstance(out["user"], str) and out["user"].startswith("SHORTENED-ID-")
    assert (out["n"], out["f"], out["b"], out["none"]) == (3, 1.5, True, None)


def test_unknown_objects_become_their_scrubbed_repr() -> None:
    class Peer:
        def __repr__(self) -> str:
            return f"Peer({IP})"

    assert scrubber().scrub_data([Peer()]) == ["Peer(IP-ADDRESS)"]


def test_a_broken_repr_does_not_raise_and_leaks_nothing() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError(IP)

    assert scrubber().scrub_data({"x": Broken()}) == {"x": "<Broken>"}


def test_bytes_are_decoded_and_scrubbed() -> None:
    assert scrubber().scrub_data([IP.encode()]) == ["IP-ADDRESS"]


def test_cycles_are_cut_not_followed() -> None:
    loop: list[Any] = [IP]
    loop.append(loop)
    assert scrubber().scrub_data(loop) == ["IP-ADDRESS", "REDACTED"]


def test_very_deep_data_is_cut_without_recursion_error() -> None:
    deep: Any = IP
    for _ in range(500):
        deep = [deep]
    out = scrubber().scrub_data(deep)
    assert IP not in repr(out) and "REDACTED" in repr(out)


def test_counts_are_per_rule_name() -> None:
    counts: Counter[str] = Counter()
    scrubber().scrub_data({"a": [IP, IP], "password": "x"}, counts)
    assert counts == Counter({"ip_address": 2, "secret_key": 1})


def test_input_is_not_modified() -> None:
    event = {"a": [IP]}
    scrubber().scrub_data(event)
    assert event == {"a": [IP]}


def test_scrub_record_formats_and_scrubs_a_log_record() -> None:
    record = logging.LogRecord(
        "cog", logging.INFO, __file__, 1, "peer %s said %r", (IP, EMAIL), None
    )
    assert scrubber().scrub_record(record) == "peer IP-ADDRESS said 'EMAIL'"


def test_scrub_record_with_bad_format_args_does_not_raise() -> None:
    record = logging.LogRecord("cog", logging.INFO, __file__, 1, "peer %d", (IP,), None)
    out = scrubber().scrub_record(record)
    assert IP not in out and "IP-ADDRESS" in out
