"""Redacting a listener error's argument values from its report, on the event loop.

Cases: a 4,000-character message of many distinct words, the same with special characters
(non-ASCII letters, quotes, ``:``, ``=``, ``&``), and a short message. Each times building the
argument scrubber from the message's values and scrubbing the report's strings with it (the
exception message quoting the content, a stack trace, the status), for this rule and for the
earlier one-trie-of-every-form rule (the oracle in tests/test_arguments_matcher.py), medians of
interleaved rounds. The
baseline is a plain ``str.replace`` loop over the same values and strings; ratios are against it.

Run: .venv/bin/python benchmarks/bench_arguments.py [--rounds N]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from otel_discord.hooks._arguments import argument_scrubber, listener_arguments
from otel_discord.scrubbing import Scrubber, default_rules
from tests.test_arguments_matcher import oracle_scrubber

BASE = Scrubber(
    default_rules(local_identity={"home": "/home/synth", "user": "synthu", "host": "synh"})
)
SPECIAL = ["é", "'s", ":x", "=1", "&q", "İ", '"', "/", "ß"]


def message(rnd: random.Random, chars: int, special: bool) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        word = "".join(
            rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randint(3, 10))
        )
        if special and rnd.random() < 0.3:
            word += rnd.choice(SPECIAL)
        words.append(word)
    return " ".join(words)[:chars]


def report(content: str) -> list[str]:
    exc = f"ValueError: bad message {content!r}"
    frames = "".join(
        f'  File "/srv/bot/cogs/mod{i}.py", line {10 + i}, in on_message\n'
        "    await self.handle(message)\n"
        for i in range(20)
    )
    return [
        exc,
        f"Traceback (most recent call last):\n{frames}{exc}",
        "ValueError",
        "on_message",
        exc,
    ]


def redact(
    build: Callable[[Scrubber, list[str]], Scrubber | None], values: list[str], strings: list[str]
) -> None:
    scrubber = build(BASE, values) or BASE
    for s in strings:
        scrubber.scrub_text(s)


def replace_loop(values: list[str], strings: list[str]) -> None:
    for s in strings:
        for v in values:
            s = s.replace(v, "ARGUMENT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=31)
    rounds = parser.parse_args().rounds
    rnd = random.Random(20261201)
    import discord

    cases = {
        "4,000 characters, many words": message(rnd, 4000, special=False),
        "4,000 characters, special characters": message(rnd, 4000, special=True),
        "short message (`setage hunter2x`)": "setage hunter2x",
    }
    print("| Case | str.replace loop | this rule | ratio | one trie of every form | ratio |")
    print("|---|---|---|---|---|---|")
    for name, content in cases.items():
        msg = discord.Message.__new__(discord.Message)
        msg.content = content
        values = listener_arguments([msg])
        strings = report(content)
        jobs = {
            "replace": lambda v=values, s=strings: replace_loop(v, s),
            "new": lambda v=values, s=strings: redact(argument_scrubber, v, s),
            "old": lambda v=values, s=strings: redact(oracle_scrubber, v, s),
        }
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for i in range(rounds):
            order = list(jobs) if i % 2 else list(reversed(jobs))
            for key in order:
                # A report's patterns are new to ``re``'s cache (the base rules' gates are not).
                re.purge()
                Scrubber(BASE.rules)._plan()
                t = time.perf_counter()
                jobs[key]()
                times[key].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        worst = {k: max(v) * 1e3 for k, v in times.items()}
        print(
            f"| {name} | {med['replace']:.3f} ms | {med['new']:.2f} ms (max {worst['new']:.2f}) "
            f"| {med['new'] / med['replace']:.1f}x | {med['old']:.2f} ms (max {worst['old']:.2f}) "
            f"| {med['old'] / med['replace']:.1f}x |"
        )


if __name__ == "__main__":
    main()
