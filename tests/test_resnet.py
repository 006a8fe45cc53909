"""The backbone and presets: PyTorch shape arithmetic, taps, identity at init, dtypes, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax
from cnl_jax.models import block_specs


def torch_out(size, kernel, stride, padding):
  return (size + 2 * padding - kernel) // stride + 1


def expected_stage_sizes(size):
  """Spatial size after the stem and each stage, by PyTorch's conv/pool formula."""
  size = torch_out(torch_out(size, 7, 2, 3), 3, 2, 1)
  sizes = {'res2': size}
  for stage in ('res3', 'res4', 'res5'):
    size = torch_out(size, 3, 2, 1)
    sizes[stage] = size
  return sizes


def init(model, shape, seed=0):
  return jax.jit(lambda: model.init(jax.random.key(seed), jnp.zeros(shape), train=False))()


def apply(model, variables, images, **kwargs):
  return jax.jit(model.apply, static_argnames=('train', 'mutable'))(variables, images, **kwargs)


def test_feature_shapes_at_448():
  model = cnl_jax.create_model('resnet50_5cnl', 200)
  images = jax.ShapeDtypeStruct((1, 448, 448, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  (logits, features) = jax.eval_shape(lambda v, x: model.apply(v, x), variables, images)
  assert logits.shape == (1, 200)
  assert features['res2_2'].shape == (1, 112, 112, 256)
  assert features['res3_1'].shape == (1, 56, 56, 512)
  assert features['res4_5'].shape == (1, 28, 28, 1024)
  assert features['res5_1'].shape == features['cnl'].shape == (1, 14, 14, 2048)


@pytest.mark.parametrize('height,width', [(97, 65), (64, 130)])
def test_non_square_odd_sizes_follow_pytorch_arithmetic(height, width):
  model = cnl_jax.create_model('resnet18', 7, cnl=cnl_jax.CNLPlacement(
      'res5_0', ('res3_1', 'res4_0')), cnl_inner_features=32)
  images = np.random.RandomState(0).normal(size=(2, height, width, 3)).astype(np.float32)
  logits, features = apply(model, init(model, images.shape), images)
  assert logits.shape == (2, 7) and np.isfinite(logits).all()
  rows, cols = expected_stage_sizes(height), expected_stage_sizes(width)
  for stage in ('res2', 'res3', 'res4', 'res5'):
    assert features[f'{stage}_0'].shape[1:3] == (rows[stage], cols[stage])


@pytest.mark.parametrize('name', ['resnet50_5cnl', 'resnet50_5nl'])
@pytest.mark.parametrize('train', [False, True])
def test_attention_models_equal_backbone_at_init(name, train):
  images = np.random.RandomState(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
  model = cnl_jax.create_model(name, 10, dropout_rate=0.0)
  # Eager: compiling two ResNet-50 variants would take longer than running them.
  variables = model.init(jax.random.key(0), images[:1], train=False)
  backbone = cnl_jax.create_model('resnet50', 10, dropout_rate=0.0)
  shared = {collection: {name: tree for name, tree in trees.items()
                         if 'nonlocal' not in name and name != 'cnl'}
            for collection, trees in variables.items()}
  (logits, _), _ = model.apply(variables, images, train=train, mutable=['batch_stats'])
  (expected, _), _ = backbone.apply(shared, images, train=train, mutable=['batch_stats'])
  np.testing.assert_array_equal(logits, expected)


def test_bfloat16_compute_stays_close_to_float32():
  placement = cnl_jax.CNLPlacement('res5_0', ('res3_1', 'res4_0'))
  images = np.random.RandomState(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
  full = cnl_jax.create_model('resnet18', 10, cnl=placement)
  variables = init(full, images.shape)
  # Give the CNL branch a non-zero output so that it is exercised too.
  params = jax.tree_util.tree_map_with_path(
      lambda path, leaf: jnp.ones_like(leaf) if 'bn_' in jax.tree_util.keystr(path) and
      'scale' in jax.tree_util.keystr(path) else leaf, variables['params'])
  variables = {**variables, 'params': params}
  half = cnl_jax.create_model('resnet18', 10, cnl=placement, dtype=jnp.bfloat16)
  expected, _ = apply(full, variables, images)
  logits, features = apply(half, variables, images)
  assert features['cnl'].dtype == jnp.bfloat16 and logits.dtype == jnp.float32
  scale = np.abs(expected).max()
  assert np.abs(logits - expected).max() < 0.05 * scale


def test_param_dtype_is_honoured():
  model = cnl_jax.create_model('resnet18', 10, param_dtype=jnp.bfloat16)
  variables = jax.eval_shape(lambda: init(model, (1, 32, 32, 3)))
  assert {leaf.dtype for leaf in jax.tree.leaves(variables['params'])} == {jnp.dtype('bfloat16')}


def test_block_names_follow_the_paper():
  names = [spec.name for spec in block_specs(50)]
  assert names[:3] == ['res2_0', 'res2_1', 'res2_2'] and names[-1] == 'res5_2'
  assert len(names) == 16 and len(block_specs(101)) == 33 and len(block_specs(152)) == 50
  assert [s.out_channels for s in block_specs(18)][::2] == [64, 128, 256, 512]


def test_presets_place_blocks_as_the_released_code():
  cnl50 = cnl_jax.create_model('resnet50_5cnl', 200).cnl
  assert cnl50.query == 'res5_1'
  assert cnl50.responses == ('res3_1', 'res3_3', 'res4_1', 'res4_3', 'res4_5')
  assert cnl_jax.create_model('resnet101_5cnl', 200).cnl.responses == (
      'res3_1', 'res3_3', 'res4_5', 'res4_12', 'res4_19')
  assert cnl_jax.create_model('resnet101_5nl', 200).nonlocal_after == (
      'res3_1', 'res3_3', 'res4_5', 'res4_12', 'res4_19')


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match=r"Unknown model 'resnet51'.*resnet50_5cnl"):
    cnl_jax.create_model('resnet51', 200)


def test_bad_class_count():
  with pytest.raises(ValueError, match='num_classes must be a positive integer'):
    cnl_jax.create_model('resnet50', 0)


def test_image_too_small_for_the_taps():
  model = cnl_jax.create_model('resnet18', 10)
  with pytest.raises(ValueError, match='at least 32'):
    init(model, (1, 31, 64, 3))


def test_unknown_block_name():
  model = cnl_jax.create_model('resnet18', 10, nonlocal_after=('res3_5',))
  with pytest.raises(ValueError, match=r"Unknown block names \['res3_5'\].*res3_1"):
    init(model, (1, 32, 32, 3))


def test_response_after_query_is_rejected():
  model = cnl_jax.create_model('resnet18', 10,
                               cnl=cnl_jax.CNLPlacement('res4_0', ('res3_1', 'res5_0')))
  with pytest.raises(ValueError, match=r"responses \['res5_0'\] do not come before"):
    init(model, (1, 32, 32, 3))


def test_width_scales_every_stage():
  model = cnl_jax.create_model('resnet18', 10, width=16)
  images = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  _, features = jax.eval_shape(lambda v, x: model.apply(v, x), variables, images)
  assert [features[f'res{stage}_0'].shape[-1] for stage in (2, 3, 4, 5)] == [16, 32, 64, 128]


def test_stage_strides_and_no_classifier_keep_the_backbone_parameters():
  images = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
  shapes = {}
  for kwargs in ({}, dict(stage_strides=(1, 1, 2, 1), num_classes=None)):
    model = cnl_jax.models.ResNet(18, **{'num_classes': 10, **kwargs})
    variables = jax.eval_shape(lambda x, m=model: m.init(jax.random.key(0), x), images)
    shapes[bool(kwargs)] = (variables, jax.eval_shape(model.apply, variables, images))
  (with_head, _), (backbone, (pooled, features)) = shapes[False], shapes[True]
  assert with_head['params'].pop('head') and with_head == backbone
  assert pooled.shape == (1, 512) and features['res5_1'].shape == (1, 28, 28, 512)


def test_rematerialised_blocks_give_the_same_parameters_results_and_gradients():
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  labels = jnp.array([0, 2])

  def outputs(remat):
    model = cnl_jax.create_model('resnet18_2cnl', 3, width=8, cnl_inner_features=8,
                                 dropout_rate=0.0, remat_blocks=remat)
    variables = model.init(jax.random.key(0), images)

    def loss(params):
      logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                              mutable=['batch_stats'])[0]
      return jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), labels])

    traced = str(jax.make_jaxpr(jax.grad(loss))(variables['params']))
    assert ('remat' in traced) == remat  # the blocks are recomputed only when asked
    return variables, jax.jit(jax.value_and_grad(loss))(variables['params'])

  plain_variables, (plain_loss, plain_grads) = outputs(False)
  remat_variables, (remat_loss, remat_grads) = outputs(True)
  assert jax.tree.structure(plain_variables) == jax.tree.structure(remat_variables)
  np.testing.assert_allclose(remat_loss, plain_loss, rtol=1e-6)
  for plain, remat in zip(jax.tree.leaves(plain_grads), jax.tree.leaves(remat_grads)):
    np.testing.assert_allclose(remat, plain, rtol=1e-4, atol=1e-6)
