"""Jitted, data-parallel train and eval steps over a mesh of all devices.

The batch is sharded along its first axis over the mesh's 'data' axis and the state is
replicated, so the same code runs on one CPU, one GPU, eight GPUs or several hosts. Batch
norm statistics are means over the global batch (XLA inserts the cross-device reductions),
or over each micro-batch with gradient accumulation.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnl_jax.methods.base import Method, Metrics
from cnl_jax.training.eval_views import predict_views
from cnl_jax.training.state import TrainState

DATA_AXIS = 'data'


def create_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A one-axis mesh over every device of every process."""
  return Mesh(np.asarray(devices or jax.devices()), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def to_global(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """This process's share of the batch -> one global array per key, sharded over the mesh."""
  sharding = batch_sharding(mesh)
  return {key: jax.make_array_from_process_local_data(sharding, value)
          for key, value in batch.items()}


def prefetch_to_mesh(batches: Iterator[dict[str, np.ndarray]], mesh: Mesh, size: int = 2
                     ) -> Iterator[dict[str, jax.Array]]:
  """Global device batches, `size` ahead of the consumer, so that the host-to-device copy of
  the next batches overlaps the step running on the current one."""
  queue = collections.deque()
  for batch in batches:
    queue.append(to_global(batch, mesh))
    if len(queue) > size:
      yield queue.popleft()
  yield from queue


def make_train_step(method: Method, mesh: Mesh, grad_accum_steps: int = 1
                    ) -> Callable[[TrainState, dict[str, jax.Array]], tuple[TrainState, Metrics]]:
  """(state, batch) -> (state, metrics); the state is donated.

  A method may make several optimizer updates per batch (`updates_per_step`); each gets its
  own dropout key derived from (run key, step, update), so a run is reproducible from its
  step alone.

  With `grad_accum_steps` k > 1 each update averages the gradients of k micro-batches of
  batch / k examples, one after another (`lax.scan`, so only one micro-batch's activations
  are live), then makes one optimizer update: the optimizer and its schedule still step once
  per update of a batch, and the state holds nothing in between, so resume stays exact. The
  update equals the one-batch update wherever the loss is a mean over independent examples;
  batch-norm statistics come from the micro-batches and their running averages move once
  per micro-batch. Micro-batch i holds rows i, i + k, i + 2k, ..., so that every device
  keeps its own rows (batch / k must divide over the devices). Micro-batch i's key is
  folded from the update's; metrics are means over the micro-batches.
  """
  grad_fn = jax.value_and_grad(method.loss, has_aux=True)
  # [micro-batch, rows, ...]: the rows stay sharded over the devices as the batch was.
  micro_batch_sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))

  def micro_batches(batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    def split(values):
      rows = values.reshape(values.shape[0] // grad_accum_steps, grad_accum_steps,
                            *values.shape[1:])
      return jax.lax.with_sharding_constraint(jnp.swapaxes(rows, 0, 1), micro_batch_sharding)
    return jax.tree.map(split, batch)

  def gradients(params, model_state, batch, rng, update):
    """(gradients, new model state, metrics) of one update, over the micro-batches."""
    if grad_accum_steps == 1:
      (_, (model_state, metrics)), grads = grad_fn(params, model_state, batch, rng, update)
      return grads, model_state, metrics

    def accumulate(carry, inputs):
      grads_sum, model_state = carry
      index, micro_batch = inputs
      (_, (new_state, metrics)), grads = grad_fn(
          params, model_state, micro_batch, jax.random.fold_in(rng, index), update)
      # The carry keeps its dtypes (a float64 model updates float32 statistics in float64).
      new_state = jax.tree.map(lambda new, old: new.astype(old.dtype), new_state, model_state)
      return (jax.tree.map(jnp.add, grads_sum, grads), new_state), metrics

    zeros = jax.tree.map(jnp.zeros_like, params)
    (grads_sum, model_state), metrics = jax.lax.scan(
        accumulate, (zeros, model_state), (jnp.arange(grad_accum_steps), micro_batches(batch)))
    grads = jax.tree.map(lambda value: value / grad_accum_steps, grads_sum)
    return grads, model_state, jax.tree.map(lambda value: value.mean(axis=0), metrics)

  def train_step(state: TrainState, batch: dict[str, jax.Array]):
    metrics = {}
    for update in range(method.updates_per_step):
      rng = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), update)
      grads, model_state, update_metrics = gradients(state.params, state.model_state, batch,
                                                     rng, update)
      state = state.apply_gradients(grads, model_state)
      prefix = f'update_{update}/' if method.updates_per_step > 1 else ''
      metrics.update({prefix + name: value for name, value in update_metrics.items()})
    return state.replace(step=state.step + 1), metrics

  return jax.jit(train_step, in_shardings=(replicated(mesh), batch_sharding(mesh)),
                 out_shardings=(replicated(mesh), replicated(mesh)), donate_argnums=0)


def make_eval_step(method: Method, mesh: Mesh, flip: bool = False
                   ) -> Callable[[dict[str, Any], dict[str, jax.Array]], dict[str, jax.Array]]:
  """(model variables, batch with 'mask') -> sums over the real examples: loss, top-1/top-5
  hits, count, and the reported head's 'confusion' counts [true class, predicted class]. Needs
  no optimizer, so a checkpoint is evaluated from its variables alone.

  The batch's 'image' is [batch, height, width, 3] or, with several crops per image
  (test-time augmentation), [batch, crops, height, width, 3]; the logits of the crops and,
  with `flip`, their mirrors are averaged in float32 (`eval_views.predict_views`). The
  reported head's sums are 'loss', 'top1', 'top5'; every other head's are prefixed with its
  name ('part/top1').
  """

  def head_sums(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    top_k = jax.lax.top_k(logits, min(5, logits.shape[-1]))[1]
    hits_top5 = jnp.any(top_k == labels[:, None], axis=-1)
    hits_top1 = top_k[:, 0] == labels
    return {'loss': jnp.sum(loss * mask), 'top1': jnp.sum(hits_top1 * mask),
            'top5': jnp.sum(hits_top5 * mask)}

  def eval_step(variables: dict[str, Any], batch: dict[str, jax.Array]):
    mask = batch['mask'].astype(jnp.float32)
    sums = {'count': jnp.sum(mask)}
    for head, logits in predict_views(method, variables, batch['image'], flip).items():
      prefix = '' if head == method.reported_head else f'{head}/'
      sums.update({prefix + name: value
                   for name, value in head_sums(logits, batch['label'], mask).items()})
      if head == method.reported_head:
        classes = logits.shape[-1]
        sums['confusion'] = jnp.zeros((classes, classes), jnp.int32).at[
            batch['label'], jnp.argmax(logits, axis=-1)].add(batch['mask'].astype(jnp.int32))
    return sums

  return jax.jit(eval_step, in_shardings=(replicated(mesh), batch_sharding(mesh)),
                 out_shardings=replicated(mesh))


def create_train_state(method: Method, tx: optax.GradientTransformation, seed: int,
                       image_shape: tuple[int, ...], mesh: Mesh,
                       load: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                       ) -> TrainState:
  """Initialises the model (then `load` puts weights into it, if given) replicated on the mesh."""
  run_rng = jax.random.PRNGKey(seed)
  # The 'rbg' generator compiles initialisers several times faster than threefry on CPU.
  init_rng = jax.random.key(seed, impl='rbg')
  variables = jax.jit(lambda rng: method.init(rng, jnp.zeros(image_shape, jnp.float32)),
                      out_shardings=replicated(mesh))(init_rng)
  if load is not None:
    variables = jax.device_put(load(jax.device_get(variables)), replicated(mesh))
  return jax.jit(lambda v, r: TrainState.create(v, tx, r),
                 out_shardings=replicated(mesh))(variables, run_rng)
