"""Run as a script with 4 host devices: one sharded train step equals the 1-device step, with
and without gradient accumulation (2 micro-batches of 4, one row a device each).

Prints the largest parameter and batch-stat differences as JSON. In float64: in float32 the
different summation orders flip a few ReLUs whose input is within rounding of zero, which
moves some gradients by about 1% on some CPUs and says nothing about the sharding.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np

from cnl_jax import CNLPlacement, create_model
from cnl_jax.methods import Classification
from cnl_jax.training import steps
from cnl_jax.training.optimizer import create_optimizer
from configs import default


def one_step(devices, batch, grad_accum_steps=1):
  config = default.get_config()
  mesh = steps.create_mesh(devices)
  model = create_model('resnet18', 5, cnl=CNLPlacement('res5_0', ('res3_1', 'res4_0')),
                       cnl_inner_features=16, dtype=jnp.float64, param_dtype=jnp.float64)
  method = Classification(model, 5)
  tx = create_optimizer(config, lambda step: 0.1, 1)
  state = steps.create_train_state(method, tx, 0, (1, 32, 32, 3), mesh)
  train_step = steps.make_train_step(method, mesh, grad_accum_steps)
  state, metrics = train_step(state, steps.to_global(batch, mesh))
  return jax.device_get((state.params, state.model_state, metrics))


def main():
  assert jax.device_count() == 4, jax.devices()
  jax.config.update('jax_enable_x64', True)
  rng = np.random.RandomState(0)
  batch = {'image': rng.normal(size=(8, 32, 32, 3)),
           'label': rng.randint(0, 5, size=8).astype(np.int32)}
  report = {}
  for grad_accum_steps, prefix in ((1, ''), (2, 'accumulated/')):
    single = one_step(jax.devices()[:1], batch, grad_accum_steps)
    sharded = one_step(jax.devices(), batch, grad_accum_steps)
    differences = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), single, sharded)
    report.update({f'{prefix}params': max(jax.tree.leaves(differences[0])),
                   f'{prefix}model_state': max(jax.tree.leaves(differences[1])),
                   f'{prefix}loss': differences[2]['loss']})
  print(json.dumps(report))


if __name__ == '__main__':
  main()
