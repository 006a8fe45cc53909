"""Everything a training run carries from step to step, as one checkpointable pytree."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import optax


@flax.struct.dataclass
class TrainState:
  """step counts batches (the data position); rng is the run's base key (uint32[2])."""
  step: jax.Array
  params: Any
  model_state: Any  # non-trainable collections, e.g. {'batch_stats': ...}
  opt_state: optax.OptState
  rng: jax.Array
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(cls, variables: dict[str, Any], tx: optax.GradientTransformation,
             rng: jax.Array) -> TrainState:
    params = variables['params']
    model_state = {k: v for k, v in variables.items() if k != 'params'}
    return cls(step=jax.numpy.zeros((), jax.numpy.int32), params=params,
               model_state=model_state, opt_state=tx.init(params), rng=rng, tx=tx)

  @property
  def variables(self) -> dict[str, Any]:
    return {'params': self.params, **self.model_state}

  def apply_gradients(self, grads: Any, model_state: Any) -> TrainState:
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    return self.replace(params=optax.apply_updates(self.params, updates),
                        model_state=model_state, opt_state=opt_state)
