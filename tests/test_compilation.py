"""Steady-state training compiles nothing: only the first train and eval steps compile."""

import jax
import ml_collections
import numpy as np

from cnl_jax import create_model
from cnl_jax.methods import Classification
from cnl_jax.training import steps
from cnl_jax.training.optimizer import create_optimizer

COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'


def test_same_shaped_batches_compile_once():
  compiled = []

  def record(event, duration, **kwargs):
    if event == COMPILE_EVENT:
      compiled.append(kwargs.get('fun_name', event))

  method = Classification(create_model('resnet18_2cnl', 4, width=8, cnl_inner_features=16), 4)
  mesh = steps.create_mesh()
  config = ml_collections.ConfigDict({'optimizer': 'sgd', 'momentum': 0.9, 'nesterov': False,
                                      'weight_decay': 1e-4, 'grad_clip_norm': 0.0})
  state = steps.create_train_state(method, create_optimizer(config, lambda step: 0.01, 1), 0,
                                   (1, 32, 32, 3), mesh)
  train_step = steps.make_train_step(method, mesh)
  eval_step = steps.make_eval_step(method, mesh)
  rng = np.random.default_rng(0)

  def batch():
    return steps.to_global({'image': rng.normal(size=(4, 32, 32, 3)).astype(np.float32),
                            'label': rng.integers(0, 4, 4).astype(np.int32),
                            'mask': np.ones(4, bool)}, mesh)

  jax.monitoring.register_event_duration_secs_listener(record)
  try:
    state, metrics = train_step(state, batch())
    sums = eval_step(state.variables, batch())
    jax.block_until_ready((state, metrics, sums))
    first = len(compiled)
    for _ in range(3):
      state, metrics = train_step(state, batch())
      sums = eval_step(state.variables, batch())
      float(metrics['loss']), float(sums['count'])
    jax.block_until_ready(state)
  finally:
    jax.monitoring.unregister_event_duration_listener(record)
  assert first >= 2, compiled  # the listener sees compilations at all
  assert compiled[first:] == [], compiled[first:]
