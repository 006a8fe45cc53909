"""XLA compilations seen through jax.monitoring, JAX's public hook for them."""

import contextlib
from collections.abc import Iterator

import jax

COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'


@contextlib.contextmanager
def recorded_compilations() -> Iterator[list[str]]:
  """A list that gets the name of every function compiled inside the block."""
  compiled = []

  def record(event, duration, **kwargs):
    del duration
    if event == COMPILE_EVENT:
      compiled.append(kwargs.get('fun_name', event))

  jax.monitoring.register_event_duration_secs_listener(record)
  try:
    yield compiled
  finally:
    jax.monitoring.unregister_event_duration_listener(record)
