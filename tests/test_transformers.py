"""The ViT and Swin presets: timm's parameter counts, CNL as the identity at init, stochastic
depth, the sizes they refuse. Their outputs against timm's are in test_timm.py."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax
from cnl_jax.methods.layer_decay import layer_decay_groups
from cnl_jax.models.attention import TOKEN_ATTENTION_MAPS
from cnl_jax.models.resnet import CNLPlacement
from cnl_jax.models.swin import SwinTransformer, shift_mask
from cnl_jax.models.vit import VisionTransformer
from cnl_jax.training.optimizer import group_labels

# timm's own counts at 200 classes and 448 px (timm 1.0.31: `sum(p.numel() for p in
# timm.create_model('<name>_224', num_classes=200, img_size=448).parameters())`).
TIMM_PARAMS = {
    'vit_small_patch16': 21_968_456,
    'vit_base_patch16': 86_404_040,
    'swin_tiny_patch4_window7': 27_673_154,
    'swin_base_patch4_window7': 86_948_224,
}


@pytest.mark.parametrize('name', sorted(TIMM_PARAMS))
def test_parameter_counts_equal_timms(name):
  model = cnl_jax.create_model(name, 200)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 448, 448, 3)), train=False))
  assert sum(leaf.size for leaf in jax.tree.leaves(variables['params'])) == TIMM_PARAMS[name]
  assert model.architecture == name  # the name its pretrained weights are found by


def tiny_vit(**overrides):
  return VisionTransformer(5, width=32, depth=4, num_heads=2, **overrides)


def tiny_swin(**overrides):
  return SwinTransformer(5, width=16, depths=(2, 2), num_heads=(1, 2), drop_path_rate=0.0,
                         **overrides)


CNL_VARIANTS = {
    'vit': (tiny_vit, dict(cnl_responses=('block0', 'block2'), cnl_inner_features=8), 32),
    'swin': (tiny_swin, dict(cnl=CNLPlacement('stage1_0', ('stage0_0', 'stage0_1')),
                             cnl_inner_features=8), 56),
}


@pytest.mark.parametrize('family', sorted(CNL_VARIANTS))
def test_cnl_at_init_is_exactly_the_plain_backbone(family):
  build, cnl, size = CNL_VARIANTS[family]
  images = jax.random.normal(jax.random.key(1), (2, size, size, 3))
  with_cnl = build(**cnl)
  variables = with_cnl.init(jax.random.key(0), images)
  plain = {'params': {name: tree for name, tree in variables['params'].items() if name != 'cnl'}}
  for train in (False, True):  # eval mode, and train mode with the CNL's batch statistics
    expected, plain_features = build().apply(plain, images, train=train)
    (logits, features), _ = with_cnl.apply(variables, images, train=train,
                                           mutable=['batch_stats'])
    np.testing.assert_array_equal(logits, expected)
  assert 'cnl' in features and set(plain_features) < set(features)


def test_drop_path_drops_whole_samples_in_training_only():
  model = tiny_vit(drop_path_rate=0.5)
  images = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
  variables = model.init(jax.random.key(0), images)
  evaluated = model.apply(variables, images)[0]
  np.testing.assert_array_equal(evaluated, tiny_vit().apply(variables, images)[0])
  trained = [model.apply(variables, images, train=True, rngs={'dropout': jax.random.key(k)})[0]
             for k in range(2)]
  assert not np.allclose(trained[0], trained[1])
  assert not np.allclose(trained[0], evaluated)


def test_shift_mask_separates_regions_that_are_not_neighbours():
  """On an 14x14 map with windows of 7 shifted by 3, the top-left window is whole, the
  bottom-right one holds four regions of the wrapped image."""
  mask = shift_mask(14, 14, 7, 3)[:, 0]
  assert mask.shape == (4, 49, 49) and set(np.unique(mask)) == {0.0, -100.0}
  assert (mask[0] == 0).all()
  last = mask[3].reshape(7, 7, 7, 7)
  assert last[0, 0, 3, 3] == 0 and last[0, 0, 4, 4] == -100 and last[4, 4, 6, 6] == 0


def test_sizes_the_patches_or_windows_do_not_tile_are_refused_in_one_line():
  with pytest.raises(ValueError, match='multiples of 56 px') as error:
    tiny_swin().init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  assert '\n' not in str(error.value)
  window_12 = SwinTransformer(5, width=16, depths=(2, 2, 2, 2), num_heads=(1, 1, 1, 1),
                              window=12)
  with pytest.raises(ValueError, match='multiples of 384 px'):
    jax.eval_shape(lambda: window_12.init(jax.random.key(0), jnp.zeros((1, 448, 448, 3))))
  with pytest.raises(ValueError, match='do not tile into 16 px patches'):
    tiny_vit().init(jax.random.key(0), jnp.zeros((1, 40, 40, 3)))


def test_overlapping_patches_give_transfgs_grid():
  """TransFG's split='overlap': 16 px patches at stride 12 on 448 px are 37 x 37."""
  model = VisionTransformer(None, width=32, depth=1, num_heads=2, patch_stride=12)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 448, 448, 3))))
  assert variables['params']['pos_embed'].shape == (1, 1 + 37 * 37, 32)


def test_blocks_record_their_attention_maps_per_head():
  model = tiny_vit()
  images = jnp.ones((1, 32, 32, 3))
  variables = model.init(jax.random.key(0), images)
  (_, _), state = model.apply(variables, images, mutable=[TOKEN_ATTENTION_MAPS])
  weights = state[TOKEN_ATTENTION_MAPS]['block3']['attn']['attention']['weights'][0]
  assert weights.shape == (1, 2, 5, 5)
  np.testing.assert_allclose(weights.sum(-1), 1, rtol=1e-6)


@pytest.mark.parametrize('build', [tiny_vit, tiny_swin])
def test_bfloat16_compute_keeps_float32_params_and_logits(build):
  model = build(dtype=jnp.bfloat16)
  images = jnp.ones((1, 56, 56, 3)) if build is tiny_swin else jnp.ones((1, 32, 32, 3))
  variables = model.init(jax.random.key(0), images)
  logits, features = model.apply(variables, images)
  assert logits.dtype == jnp.float32 and features['pooled'].dtype == jnp.bfloat16
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))


@pytest.mark.parametrize('build', [tiny_vit, tiny_swin])
def test_layer_decay_gives_timms_rate_to_every_parameter(build):
  """timm's `param_groups_layer_decay`: the embeddings at decay^(n + 1), the layer at depth
  i (block, with a Swin stage's merge in its first block) at decay^(n + 1 - i), the final
  norm and the head at the full rate; n = blocks."""
  model = build()
  size = 56 if build is tiny_swin else 32
  params = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  groups = layer_decay_groups(model.layers(), 0.5)
  labels = flax.traverse_util.flatten_dict(group_labels(params['params'], groups), sep='/')
  rates = {path: 1.0 if label == 'default' else groups[int(label)].learning_rate_factor
           for path, label in labels.items()}
  blocks = ([f'block{i}' for i in range(model.depth)] if build is tiny_vit
            else [f'stage{s}_{b}' for s, d in enumerate(model.depths) for b in range(d)])
  n = len(blocks)
  for path, rate in rates.items():
    top = path.split('/')[0]
    if top.startswith('stage') and top.endswith('_merge'):
      top = f'{top[:-len("_merge")]}_0'
    if top in blocks:
      assert rate == 0.5 ** (n - blocks.index(top)), path
    elif top in ('norm', 'head'):
      assert rate == 1.0, path
    else:
      assert rate == 0.5 ** (n + 1), path
