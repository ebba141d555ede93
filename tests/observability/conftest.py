from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fast_channels.layers import InMemoryChannelLayer, channel_layers, register_channel_layer
from fast_channels.observability import tracing

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The OpenTelemetry SDK with an in-memory exporter (a provider can be set once per process,
    so it stays installed; other tests then simply produce spans nobody reads)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    tracing.refresh()
    _exporter.clear()
    yield _exporter
    _exporter.clear()


@pytest.fixture
def memory_layer() -> Iterator[InMemoryChannelLayer]:
    layer = InMemoryChannelLayer()
    register_channel_layer("default", layer)
    yield layer
    channel_layers.unregister("default")
