"""Samplers: the configured OpenTelemetry sampler behind a consent gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes


def make_sampler(name: str, arg: float) -> Sampler:
    """The sampler named as in ``OTEL_TRACES_SAMPLER``."""
    root: Sampler
    base = name.removeprefix("parentbased_")
    if base == "always_on":
        root = ALWAYS_ON
    elif base == "always_off":
        root = ALWAYS_OFF
    elif base == "traceidratio":
        root = TraceIdRatioBased(arg)
    else:
        raise ValueError(f"unknown sampler {name!r}")
    return ParentBased(root) if name.startswith("parentbased_") else root


_DROP = SamplingResult(Decision.DROP)


#: Span attribute naming the kind of a span (``loop``, ``prefix``...); see ``kind_rates``.
KIND_ATTRIBUTE = "discord.kind"


class ConsentSampler(Sampler):
    """Without consent every span is a cheap non-recording span; with it, ``inner`` decides.

    ``kind_rates`` samples root spans of a kind (their ``discord.kind`` attribute) at their own
    ratio. An unsampled one is still recorded (``RECORD_ONLY``) so that, if it ends with an
    exception, the pipeline exports it anyway: errors are always kept.
    """

    def __init__(
        self,
        gate: Callable[[], bool],
        inner: Sampler,
        kind_rates: Mapping[str, float] | None = None,
    ) -> None:
        self.gate = gate
        self.inner = inner
        self.kind_rates = {
            kind: TraceIdRatioBased(rate) for kind, rate in (kind_rates or {}).items() if rate < 1
        }

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.gate():
            return _DROP
        if self.kind_rates and attributes:
            span_kind = attributes.get(KIND_ATTRIBUTE)
            ratio = self.kind_rates.get(span_kind) if isinstance(span_kind, str) else None
            if ratio is not None:
                result = ratio.should_sample(parent_context, trace_id, name, kind=None)
                if result.decision is Decision.DROP:
                    return SamplingResult(Decision.RECORD_ONLY, attributes)
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"ConsentSampler{{{self.inner.get_description()}}}"
