"""The scrubber against a seed-style baseline, side by side in one run, as ratios.

The baseline is what the seed cogs did: sequential ``re.sub`` passes (``\\b\\d{17,20}\\b`` for IDs,
an IPv4/IPv6 alternation, a greedy invite pattern) and ``.replace(token, ...)``. Both run on the
same payloads, interleaved (payload by payload, alternating which goes first), and the median of
the rounds is compared. A ratio above 1 means this scrubber is faster. Then every corpus case
the baseline lets through is listed (this scrubber must let none through).

Run: .venv/bin/python benchmarks/bench_scrub.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from otel_discord.scrubbing import Scrubber, default_rules
from tests.scrub_corpus import CASES, IDENTITY, OWN_TOKEN

# -- the seed-style baseline ---------------------------------------------------------------------

_SEED_ID = re.compile(r"\b\d{17,20}\b")
_V4 = r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_H = r"[0-9a-fA-F]{1,4}"
_V6 = (
    rf"(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
    rf"|fe80:(?::[0-9a-fA-F]{{0,4}}){{0,4}}%[0-9a-zA-Z]+|::(?:ffff(?::0{{1,4}})?:)?{_V4}"
)
_SEED_IP = re.compile(rf"(?P<v4>{_V4})|(?P<v6>{_V6})")
_SEED_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:discord\.(?:gg|io|me|li)|discord(?:app)?\.com/invite)/\S+"
)


def _seed_id(match: re.Match[str]) -> str:
    return f"SHORTENED-ID-{str(int(match.group(0)) >> 22)[-4:]}"


def _seed_ip(match: re.Match[str]) -> str:
    return "IP_V4" if match.group("v4") else "IP_V6"


def seed_scrub(text: str, token: str | None = OWN_TOKEN) -> str:
    """The seed cogs' approach, faithfully: four independent passes."""
    if token:
        text = text.replace(token, "BOT-TOKEN")
    text = _SEED_INVITE.sub("DISCORD-INVITE-LINK", text)
    text = _SEED_IP.sub(_seed_ip, text)
    return _SEED_ID.sub(_seed_id, text)


# -- payloads ----------------------------------------------------------------------------------

CLEAN_LINES = [
    "2026-11-22 09:01:13 INFO discord.client: logging in using static token",
    "2026-11-22 09:01:14 INFO discord.gateway: Shard ID None has connected to Gateway.",
    "2026-11-22 09:01:14 INFO red: Loaded 14 cogs in 2.53s (music, audio, trivia, mod)",
    "2026-11-22 09:01:15 INFO red.core: Red 3.5.24, discord.py 2.7.1, Python 3.11.7",
    "2026-11-22 09:02:00 DEBUG red.audio: Lavalink node ready; 3 players, 0 queued tracks",
    "2026-11-22 09:02:31 INFO red.trivia: Session for 'general' ended after 12 questions",
    "2026-11-22 09:03:05 WARNING red.mod: Could not find a mute role; falling back to timeouts",
    "2026-11-22 09:04:40 INFO red.core.bot: Command 'ping' invoked, latency 0.0523s",
]
CLEAN_BLOCK = "\n".join(CLEAN_LINES * 4)  # ~2.4 KB
CLEAN_LINE = CLEAN_LINES[2]
DENSE = "\n".join(
    [
        "user 877633890372550677 in guild 81384788765712384 posted https://discord.gg/AbCd123,"
        " see <#1200000000000000000> and https://example.com/x?page=2 from 203.0.113.5",
        "reply to <@!877633890372550677> in 1200000000000000000: discord.com/invite/red-support",
        "peer 2001:db8:85a3::8a2e:370:7334 relayed for 198.51.100.7 (user_id_877633890372550677)",
    ]
    * 8
)
_FRAME = (
    '  File "/home/squall/redenv/lib/python3.11/site-packages/discord/ext/commands/core.py",'
    " line {n}, in wrapped\n    ret = await coro(*args, **kwargs)\n"
)
_frames = []
while sum(map(len, _frames)) < 10_000:
    _frames.append(_FRAME.format(n=200 + len(_frames)))
STACK = (
    "Traceback (most recent call last):\n"
    + "".join(_frames)
    + "discord.ext.commands.errors.CommandInvokeError: Command raised an exception: "
    "Forbidden: 403 Forbidden (error code: 50013): Missing Permissions in 877633890372550677\n"
)
PAYLOADS = {
    "clean log line": CLEAN_LINE,
    "clean bot log text (2.4 KB)": CLEAN_BLOCK,
    "dense IDs and links (2.6 KB)": DENSE,
    "10 KB stack trace": STACK,
}


def measure(fn: Callable[[], object], number: int) -> float:
    return timeit.timeit(fn, number=number) / number


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    scrubber = Scrubber(default_rules(token=OWN_TOKEN, local_identity=IDENTITY))

    times: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for name, text in PAYLOADS.items():
            number = max(20, 200_000 // max(len(text), 1))
            impls: list[tuple[str, Callable[[], object]]] = [
                ("seed", lambda text=text: seed_scrub(text)),  # type: ignore[misc]
                ("this", lambda text=text: scrubber.scrub_text(text)),  # type: ignore[misc]
            ]
            if r % 2:
                impls.reverse()
            for impl, fn in impls:
                times.setdefault((name, impl), []).append(measure(fn, number))

    print(f"{'payload':32s} {'seed us':>10s} {'this us':>10s} {'seed/this':>10s}")
    for name in PAYLOADS:
        seed = statistics.median(times[(name, "seed")])
        this = statistics.median(times[(name, "this")])
        print(f"{name:32s} {seed * 1e6:10.2f} {this * 1e6:10.2f} {seed / this:9.2f}x")

    print("\ncorpus cases the seed baseline lets through (something that must vanish stays):")
    missed = 0
    for case in CASES:
        out = seed_scrub(case.text)
        leaked = [v for v in case.vanish if v in out]
        if leaked:
            missed += 1
            print(f"  {case.id:32s} {out[:70]!r}")
    ours = [c.id for c in CASES if any(v in scrubber.scrub_text(c.text) for v in c.vanish)]
    print(f"seed misses {missed} of {len(CASES)} cases; this scrubber misses {len(ours)} {ours}")


if __name__ == "__main__":
    main()
