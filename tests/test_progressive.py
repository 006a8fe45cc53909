"""RMG-PMSI's progressive method: four updates per batch in one compiled step (also over
micro-batches); the loss falls.

A small stand-in network with RMG-PMSI's interface (a 'backbone' subtree with BN, dropout,
four heads) keeps compilation short; tests/test_rmg_pmsi.py checks the real network.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods import method_options
from cnl_jax.methods.rmg_pmsi import HEADS, RMGPMSI, RMGPMSIMethod
from cnl_jax.models.layers import BatchNorm
from cnl_jax.training import steps
from cnl_jax.training.optimizer import create_optimizer
from configs import rmg_pmsi_cub
from helpers.compilations import recorded_compilations


class Backbone(nn.Module):

  @nn.compact
  def __call__(self, images, *, train):
    x = nn.Conv(8, (3, 3), strides=(2, 2), name='conv')(images)
    return nn.relu(BatchNorm(use_running_average=not train, name='bn')(x))


class StandIn(nn.Module):
  """images -> ({head: logits}, {}); the heads read the feature map's layout, as taps do."""
  num_classes: int

  @nn.compact
  def __call__(self, images, *, train=False):
    x = Backbone(name='backbone')(images, train=train)
    x = nn.Dropout(0.1, deterministic=not train)(x.reshape(x.shape[0], -1))
    return {head: nn.Dense(self.num_classes, name=head)(x) for head in HEADS}, {}


def batch(size=8, num_classes=4):
  rng = np.random.RandomState(0)
  return {'image': rng.normal(size=(size, 16, 16, 3)).astype(np.float32),
          'label': np.arange(size, dtype=np.int32) % num_classes}


def backbone_leaves(tree):
  """Leaves under a 'backbone' key: its parameters, or its momentum in an optimizer state."""
  return [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
          if jax.tree_util.DictKey('backbone') in path and np.ndim(leaf) > 0]


@pytest.mark.parametrize('grad_accum_steps', [1, 2])
def test_frozen_backbone_step_compiles_once_keeps_the_backbone_and_lowers_the_loss(
    grad_accum_steps):
  mesh = steps.create_mesh()
  config = rmg_pmsi_cub.get_config()  # backbone frozen for 5 epochs
  method = RMGPMSIMethod(StandIn(4), 4, method_options(config.model, config.method))
  config.learning_rate = 0.02
  tx = create_optimizer(config, lambda step: config.learning_rate, 100,
                        method.updates_per_step, method.parameter_groups())
  state = steps.create_train_state(method, tx, 0, (1, 16, 16, 3), mesh)
  initial = jax.device_get(state)
  train_step = steps.make_train_step(method, mesh, grad_accum_steps)
  losses = []
  with recorded_compilations() as compiled:
    for step in range(10):
      state, metrics = train_step(state, steps.to_global(batch(), mesh))
      losses.append({head: float(metrics[f'update_{u}/{head}/loss'])
                     for u, head in enumerate(HEADS)})
      if step == 0:
        first = len(compiled)
  assert first >= 1 and compiled[first:] == [], compiled  # the first step compiled, no other
  assert int(state.step) == 10

  state = jax.device_get(state)
  for before, after in [(initial.params, state.params), (initial.opt_state, state.opt_state)]:
    assert backbone_leaves(before)
    for old, new in zip(backbone_leaves(before), backbone_leaves(after)):
      np.testing.assert_array_equal(old, new)
  assert not np.array_equal(initial.model_state['batch_stats']['backbone']['bn']['mean'],
                            state.model_state['batch_stats']['backbone']['bn']['mean'])
  for head in HEADS:
    assert not np.array_equal(initial.params[head]['kernel'], state.params[head]['kernel'])
  assert losses[-1]['concat'] < 0.5 * losses[0]['concat'], losses  # the clean images
  mosaic_losses = [sum(step[head] for head in HEADS[:3]) for step in losses]
  assert mosaic_losses[-1] < mosaic_losses[0], mosaic_losses


def test_each_update_trains_only_its_head_and_moves_the_batch_statistics():
  method = RMGPMSIMethod(StandIn(4), 4)
  variables = method.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  params, model_state = variables['params'], {'batch_stats': variables['batch_stats']}
  every_update = jax.jit(lambda *args: [jax.grad(method.loss, has_aux=True)(*args, update)
                                        for update in range(method.updates_per_step)])
  results = every_update(params, model_state, batch(), jax.random.key(1))
  for head, (grads, (new_state, _)) in zip(HEADS, results):
    trained = {name for name in HEADS if np.any(grads[name]['kernel'] != 0)}
    assert trained == {head}
    assert np.any(grads['backbone']['conv']['kernel'] != 0)
    assert not np.array_equal(new_state['batch_stats']['backbone']['bn']['mean'],
                              model_state['batch_stats']['backbone']['bn']['mean'])


def test_predict_mixes_the_four_heads():
  method = RMGPMSIMethod(StandIn(4), 4)
  images = batch()['image']
  outputs = method.predict(method.init(jax.random.key(0), images), images)
  assert set(outputs) == {*HEADS, 'mix'} and method.reported_head == 'mix'
  np.testing.assert_allclose(outputs['mix'], sum(outputs[head] for head in HEADS), rtol=1e-6)


def test_the_real_network_traces_through_a_mosaic_update_and_the_clean_update():
  # Abstract (no compilation): RMG-PMSI's dropout, batch statistics and taps under the method.
  model = RMGPMSI(4, stem_stride=2, width_multiplier=0.35, smooth_inner_features=8,
                  features=16, classifier_features=8)
  options = RMGPMSIMethod.default_options()
  options.mosaic_mode = 'per_sample'
  method = RMGPMSIMethod(model, 4, options)
  images = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32)
  variables = jax.eval_shape(method.init, jax.random.key(0), images)
  params, model_state = variables['params'], {'batch_stats': variables['batch_stats']}
  data = {'image': images, 'label': jax.ShapeDtypeStruct((2,), jnp.int32)}
  for update in (0, method.updates_per_step - 1):  # depth-3 mosaic on stage 1; clean, concat
    (loss, (new_state, _)), grads = jax.eval_shape(
        lambda p, s, b, k, u=update: jax.value_and_grad(method.loss, has_aux=True)(
            p, s, b, k, u), params, model_state, data, jax.random.key(1))
    assert loss.shape == () and jax.tree.structure(grads) == jax.tree.structure(params)
    assert jax.tree.structure(new_state) == jax.tree.structure(model_state)
