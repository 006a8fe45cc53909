"""The shared layers keep PyTorch's semantics: BatchNorm's running statistics follow PyTorch's
update, and the classifiers start from the released code's init."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods import create_model
from cnl_jax.models.layers import BatchNorm, ZeroBatchNorm


def torch_batch_norm_train(x, running_mean, running_var, gamma, beta, momentum, eps=1e-5):
  """NumPy transcription of torch.nn.functional.batch_norm(training=True) on channels-last
  x: normalise with the biased batch variance, update the running variance with the
  unbiased one. `momentum` is PyTorch's (the new batch's weight)."""
  axes = tuple(range(x.ndim - 1))
  count = x.size // x.shape[-1]
  mean, var = x.mean(axes), x.var(axes)
  output = (x - mean) / np.sqrt(var + eps) * gamma + beta
  running_mean = (1 - momentum) * running_mean + momentum * mean
  running_var = (1 - momentum) * running_var + momentum * var * count / (count - 1)
  return output, running_mean, running_var


@pytest.mark.parametrize('shape,torch_momentum', [
    ((4, 3, 5, 6), 0.1),  # BatchNorm2d at PyTorch's default
    ((16, 6), 0.1),       # BatchNorm1d at a per-device batch of 16
    ((2, 4, 4, 6), 0.01),  # the granularity heads' BatchNorm2d(momentum=0.01)
])
def test_batch_norm_follows_pytorch(rng, shape, torch_momentum):
  layer = BatchNorm(momentum=1 - torch_momentum)
  batches = [rng.normal(2.0, 3.0, size=shape).astype(np.float32) for _ in range(3)]
  variables = layer.init(jax.random.key(0), batches[0])
  params = {'scale': rng.uniform(0.5, 2, shape[-1:]).astype(np.float32),
            'bias': rng.normal(size=shape[-1:]).astype(np.float32)}
  stats = variables['batch_stats']
  mean, var = np.zeros(shape[-1]), np.ones(shape[-1])
  for x in batches:
    output, updated = layer.apply({'params': params, 'batch_stats': stats}, x,
                                  mutable=['batch_stats'])
    stats = updated['batch_stats']
    expected, mean, var = torch_batch_norm_train(x, mean, var, params['scale'],
                                                 params['bias'], torch_momentum)
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats['mean'], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats['var'], var, rtol=1e-5)
  evaluated = BatchNorm(use_running_average=True).apply(
      {'params': params, 'batch_stats': stats}, batches[0])
  np.testing.assert_allclose(
      evaluated, (batches[0] - mean) / np.sqrt(var + 1e-5) * params['scale'] + params['bias'],
      rtol=1e-4, atol=1e-4)


def test_biased_update_is_flaxs_and_the_variables_are_flaxs(rng):
  """unbiased_running_var=False is nn.BatchNorm's update; either way the variables have
  nn.BatchNorm's names and shapes, which the pretrained-weight converters write."""
  x = rng.normal(1.0, 2.0, size=(8, 3, 3, 5)).astype(np.float32)
  flax_layer = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5,
                            use_fast_variance=False)
  ours = BatchNorm(unbiased_running_var=False)
  variables = flax_layer.init(jax.random.key(0), x)
  assert (jax.tree.structure(ours.init(jax.random.key(0), x))
          == jax.tree.structure(variables))
  expected, expected_stats = flax_layer.apply(variables, x, mutable=['batch_stats'])
  output, stats = ours.apply(variables, x, mutable=['batch_stats'])
  np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)
  for name in ('mean', 'var'):
    np.testing.assert_allclose(stats['batch_stats'][name], expected_stats['batch_stats'][name],
                               rtol=1e-6)


def test_batch_norm_needs_two_values_per_channel_in_training():
  layer = ZeroBatchNorm()
  variables = layer.init(jax.random.key(0), jnp.ones((1, 4)))
  with pytest.raises(ValueError, match='more than one value per channel'):
    layer.apply(variables, jnp.ones((1, 4)), mutable=['batch_stats'])


@pytest.mark.parametrize('name', ['resnet50', 'resnet50_5nl', 'resnet50_5cnl'])
def test_classifier_starts_as_the_released_cnl_code(name):
  """Released: kaiming_normal_(fan_out, relu) on the new Linear, N(0, 2 / classes) and not
  truncated, and PyTorch's default bias, U(+-1/sqrt(fan_in))."""
  num_classes = 200
  model = create_model(name, num_classes, width=8)  # 256 features into the head
  variables = jax.jit(lambda key: model.init(key, jnp.zeros((1, 64, 64, 3))))(
      jax.random.key(0))
  kernel = np.asarray(variables['params']['head']['kernel'])
  bias = np.asarray(variables['params']['head']['bias'])
  fan_in = kernel.shape[0]
  std = np.sqrt(2 / num_classes)
  assert kernel.std() == pytest.approx(std, rel=0.03)
  assert abs(kernel.mean()) < 0.05 * std
  assert np.abs(kernel).max() > 3.5 * std  # a gaussian, not one truncated at 2 std
  bound = 1 / np.sqrt(fan_in)
  assert np.abs(bias).max() <= bound
  assert np.abs(bias).max() > 0.9 * bound and np.abs(bias).min() < 0.1 * bound


def test_head_std_replaces_the_released_classifier_init():
  """The demo's init for a trunk from scratch: N(0, head_std) weights and zero bias."""
  model = create_model('resnet18_2cnl', 20, width=8, head_std=0.01)
  variables = jax.jit(lambda key: model.init(key, jnp.zeros((1, 64, 64, 3))))(
      jax.random.key(0))
  kernel = np.asarray(variables['params']['head']['kernel'])
  assert kernel.std() == pytest.approx(0.01, rel=0.1)
  assert not np.asarray(variables['params']['head']['bias']).any()
