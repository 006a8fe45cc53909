"""Grad-CAM against a hand computation: for global average pooling and a linear head it is
the class activation map ReLU(sum_c w_ck A_c) divided by the number of positions."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.grad_cam import CamTarget, grad_cam

NUM_CLASSES = 5


class _PooledLinear(nn.Module):
  """A conv feature map, averaged over positions, then one dense layer. With `twice`, the
  conv also sees a derived image (the input negated) after the input, and the head reads
  only the derived one, as TASN's part net reads its sampled images."""
  twice: bool = False

  @nn.compact
  def __call__(self, images):
    if self.twice:
      images = jnp.concatenate([images, -images])
    features = nn.Conv(6, (3, 3), name='features')(images)
    logits = nn.Dense(NUM_CLASSES, name='head')(jnp.mean(features, axis=(1, 2)))
    return {'logits': logits[-1:], 'features': features}


@pytest.mark.parametrize('twice', [False, True])
def test_grad_cam_of_a_linear_head_on_pooled_features_is_its_class_activation_map(twice):
  model = _PooledLinear(twice)
  image = jax.random.normal(jax.random.key(0), (8, 8, 3))
  variables = model.init(jax.random.key(1), image[None])
  outputs = model.apply(variables, image[None])
  index = 1 if twice else 0
  target = CamTarget('logits', ('features',), image_index=index)

  values, logits = jax.jit(lambda image: grad_cam(
      lambda images: model.apply(variables, images), image, target))(image)

  features = np.asarray(outputs['features'][index])  # [8, 8, 6]
  predicted = int(np.argmax(outputs['logits'][0]))
  weights = np.asarray(variables['params']['head']['kernel'])[:, predicted]
  expected = np.maximum(features @ weights, 0) / (8 * 8)
  assert 0 < np.count_nonzero(expected) < expected.size  # the ReLU matters
  np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(logits, outputs['logits'][0], rtol=1e-6)


def test_a_module_that_does_not_run_is_an_error():
  model = _PooledLinear()
  image = jnp.zeros((8, 8, 3))
  variables = model.init(jax.random.key(0), image[None])
  with pytest.raises(ValueError, match='ran 0 times'):
    grad_cam(lambda images: model.apply(variables, images), image,
             CamTarget('logits', ('missing',)))
