"""The GPU path (CUDA, bf16, cuDNN attention, 448 px): run with `pytest -m gpu` on a GPU.

Skipped elsewhere (tests/conftest.py). benchmarks/gpu_check.py runs these first.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cnl_jax import create_model
from cnl_jax.methods import Classification
from cnl_jax.models.attention import DotProductAttention
from cnl_jax.training import steps
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.optimizer import create_optimizer
from helpers.compilations import recorded_compilations

pytestmark = pytest.mark.gpu

# bf16 keeps 8 bits of mantissa (relative step 2**-8 = 0.004); outputs are softmax-weighted
# means of N(0, 1) values, so both paths agree to a few bf16 steps.
BF16_TOLERANCE = 2e-2

# Query and response lengths at 448 px, and the head dim (one head): CNL's query is res5
# (14 x 14 = 196) against res3 (56 x 56 = 3136) and res4 (28 x 28 = 784); NL in res3 is
# 3136 against itself.
CNL_AND_RES3_NL_SHAPES = [(196, 3136, 256), (196, 784, 256), (3136, 3136, 256)]
RES4_NL_SHAPE = (784, 784, 512)


def _attention_inputs(queries: int, keys: int, dim: int, batch: int = 2):
  rng = np.random.default_rng(0)
  draw = lambda length: jnp.asarray(rng.normal(size=(batch, length, dim)), jnp.bfloat16)
  return draw(queries), draw(keys), draw(keys)


def _attend(implementation, query, key, value):
  module = DotProductAttention(implementation)
  return jax.jit(lambda q, k, v: module.apply({}, q, k, v))


@pytest.mark.parametrize('queries,keys,dim', CNL_AND_RES3_NL_SHAPES)
def test_cudnn_attention_equals_xla_for_the_448px_shapes(queries, keys, dim):
  inputs = _attention_inputs(queries, keys, dim)
  cudnn = _attend('cudnn', *inputs)(*inputs)
  xla = _attend('xla', *inputs)(*inputs)
  np.testing.assert_allclose(np.asarray(cudnn, np.float32), np.asarray(xla, np.float32),
                             atol=BF16_TOLERANCE, rtol=BF16_TOLERANCE)


def _uses_cudnn(implementation, inputs) -> bool:
  """Whether the lowered program calls cuDNN's fused attention (a `__cudnn$fmha` call)."""
  return 'cudnn$fmha' in _attend(implementation, *inputs).lower(*inputs).as_text()


def test_auto_picks_cudnn_for_cnl_and_xla_for_the_res4_nl_blocks():
  cnl = _attention_inputs(*CNL_AND_RES3_NL_SHAPES[0])
  res4 = _attention_inputs(*RES4_NL_SHAPE)
  assert _uses_cudnn('auto', cnl)
  assert not _uses_cudnn('auto', res4)  # head dim 512: cuDNN would raise
  np.testing.assert_allclose(np.asarray(_attend('auto', *res4)(*res4), np.float32),
                             np.asarray(_attend('xla', *res4)(*res4), np.float32),
                             atol=BF16_TOLERANCE, rtol=BF16_TOLERANCE)


@pytest.fixture(scope='module')
def trained_cnl():
  """resnet50_5cnl in bf16, 448 px, batch 32: ten steps on one fixed batch."""
  num_classes, batch_size, size = 200, 32, 448
  method = Classification(create_model('resnet50_5cnl', num_classes, dtype=jnp.bfloat16,
                                        dropout_rate=0.0, attention_implementation='auto'),
                          num_classes)
  mesh = steps.create_mesh()
  # The recipe's SGD; configs/ would import the TensorFlow input pipeline.
  config = ml_collections.ConfigDict({'optimizer': 'sgd', 'momentum': 0.9, 'nesterov': False,
                                      'weight_decay': 1e-4, 'grad_clip_norm': 0.0})
  state = steps.create_train_state(method, create_optimizer(config, lambda step: 0.01, 1), 0,
                                   (1, size, size, 3), mesh)
  rng = np.random.default_rng(0)
  batch = steps.to_global({'image': rng.normal(size=(batch_size, size, size, 3)).astype(
      np.float32), 'label': np.arange(batch_size, dtype=np.int32) % num_classes}, mesh)
  train_step = steps.make_train_step(method, mesh)
  losses = []
  state, metrics = train_step(state, batch)
  losses.append(float(metrics['loss']))
  with recorded_compilations() as compiled:  # after the first step's
    for _ in range(9):
      state, metrics = train_step(state, batch)
      losses.append(float(metrics['loss']))
  return state, losses, compiled


def test_bf16_cnl_train_step_compiles_once_and_its_loss_falls(trained_cnl):
  state, losses, compiled_after_the_first_step = trained_cnl
  assert compiled_after_the_first_step == []
  assert int(state.step) == 10 and all(np.isfinite(losses))
  assert losses[-1] < losses[0], losses


def test_orbax_checkpoint_round_trips_on_the_gpu(trained_cnl, tmp_path):
  state, _, _ = trained_cnl
  checkpoints = Checkpoints(str(tmp_path), writable=True)
  checkpoints.save(state, {'epoch': 1})
  checkpoints.wait()
  zeroed = jax.tree.map(jnp.zeros_like, state)
  restored, meta = checkpoints.restore(zeroed)
  checkpoints.close()
  assert meta == {'epoch': 1}
  for saved, loaded in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
    assert loaded.devices() == saved.devices()
    assert {d.platform for d in loaded.devices()} == {'gpu'}
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(saved))
