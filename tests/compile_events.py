"""Counting JAX's compile events in a test (a program read back from the disk cache still counts
for the tracing events, not for the backend compilation)."""

from contextlib import contextmanager

import jax

BACKEND = "/jax/core/compile/backend_compile_duration"


@contextmanager
def compile_events(prefix: str = BACKEND):
    """Yield a list that collects every compile event whose name starts with ``prefix``."""
    events: list[str] = []

    def listener(event, duration, **_):
        if event.startswith(prefix):
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
