"""TransFG's part selection equals the released full-product `Part_Attention`, ties
included, and traces to no argmax, sort or scatter (what LiteRT or tf2onnx cannot translate)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods.transfg import part_selection
from helpers.transfg_reference import primitive_names, released_part_selection


def random_attention(rng, layers=11, batch=2, heads=3, tokens=17, sharpness=3.0):
  logits = rng.normal(size=(layers, batch, heads, tokens, tokens)) * sharpness
  maps = np.exp(logits - logits.max(-1, keepdims=True))
  return list((maps / maps.sum(-1, keepdims=True)).astype(np.float32))


def test_row_chain_equals_the_full_product(rng):
  maps = random_attention(rng)
  hidden = rng.normal(size=(2, 17, 8)).astype(np.float32)
  row, indices, tokens = released_part_selection(
      [m.astype(np.float64) for m in maps], hidden)

  np.testing.assert_allclose(part_selection.class_token_attention(maps)[..., 1:], row,
                             rtol=1e-5)
  selected, chosen, _ = jax.jit(part_selection.select_parts)(maps, hidden)
  np.testing.assert_array_equal(chosen, indices)
  np.testing.assert_array_equal(selected, tokens)


def test_order_of_the_chain_matters(rng):
  # Guards the order of the products: the reversed chain selects other patches here.
  maps = random_attention(rng, layers=3, sharpness=6.0)
  _, indices, _ = released_part_selection(maps, np.zeros((2, 17, 1)))
  _, reversed_indices, _ = released_part_selection(maps[::-1], np.zeros((2, 17, 1)))
  assert np.any(indices != reversed_indices)
  np.testing.assert_array_equal(part_selection.most_attended_patches(
        part_selection.class_token_attention(maps)), indices)


def test_ties_go_to_the_first_patch_and_duplicates_are_kept(rng):
  # Quarters over 4 tokens through 3 layers are exact in float32, so ties are real ties:
  # patches 2 and 3 get equal columns in the first layer, hence equal attention.
  quarters = rng.multinomial(4, [0.25] * 4, size=(3, 1, 2, 4)).astype(np.float32) / 4
  quarters[0, ..., 3] = quarters[0, ..., 2] = (quarters[0, ..., 2] + quarters[0, ..., 3]) / 2
  uniform = np.full((3, 1, 2, 4, 4), 0.25, np.float32)
  for maps in (list(quarters), list(uniform)):
    row, indices, _ = released_part_selection(maps, np.zeros((1, 4, 1)))
    np.testing.assert_array_equal(part_selection.class_token_attention(maps)[..., 1:], row)
    np.testing.assert_array_equal(part_selection.most_attended_patches(
        part_selection.class_token_attention(maps)), indices)
  # Uniform attention: every head ties everywhere and takes the first patch, twice.
  uniform_row = part_selection.class_token_attention(list(uniform))
  np.testing.assert_array_equal(part_selection.most_attended_patches(uniform_row), [[1, 1]])
  hidden = rng.normal(size=(1, 4, 5)).astype(np.float32)
  selected = part_selection.select_parts(list(uniform), hidden).tokens
  np.testing.assert_array_equal(selected, hidden[:, [0, 1, 1]])


def test_row_chain_costs_vector_times_matrix_per_layer():
  # ViT-B/16 at 448 px with overlapping patches: 11 maps of 12 heads over 1370 tokens. The
  # released full products cost 10 * 12 * 1370^3 MACs (309 G); the row chain 10 * 12 * 1370^2.
  tokens, heads, layers = 1370, 12, 11
  maps = [jax.ShapeDtypeStruct((1, heads, tokens, tokens), jnp.float32)] * layers
  cost = jax.jit(part_selection.class_token_attention).lower(maps).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  assert cost['flops'] == 2 * (layers - 1) * heads * tokens ** 2  # 0.23 GMACs


def test_selection_passes_no_gradient_through_the_maps(rng):
  maps = [jnp.asarray(m) for m in random_attention(rng, layers=2)]
  hidden = jnp.asarray(rng.normal(size=(2, 17, 8)), jnp.float32)

  def total(maps, hidden):
    return jnp.sum(part_selection.select_parts(maps, hidden).tokens ** 2)
  map_grads, hidden_grads = jax.grad(total, argnums=(0, 1))(maps, hidden)
  assert all(not np.any(g) for g in map_grads)
  assert np.any(hidden_grads)


def test_selection_traces_to_no_argmax_sort_or_scatter(rng):
  # TFLite has no sort, tf2onnx no translation of TFLite's scatter nor of its ARG_MAX.
  maps = random_attention(rng, layers=3)
  hidden = np.zeros((2, 17, 8), np.float32)
  program = jax.make_jaxpr(jax.jit(part_selection.select_parts))(maps, hidden)
  names = primitive_names(program.jaxpr)
  assert 'gather' in names
  assert not any(banned in name for name in names for banned in ('argmax', 'sort', 'scatter')
                 ), names


def test_first_max_index_is_argmax(rng):
  values = rng.randint(4, size=(50, 7)).astype(np.float32)  # many ties
  values[0] = 3  # all tied
  np.testing.assert_array_equal(part_selection.first_max_index(values),
                                np.argmax(values, axis=-1))


@pytest.mark.parametrize('shapes', [[], [(2, 3, 5, 5), (2, 3, 6, 6)], [(2, 5, 5)]])
def test_maps_of_bad_shape_are_refused(shapes):
  with pytest.raises(ValueError, match='attention maps'):
    part_selection.class_token_attention([np.zeros(s, np.float32) for s in shapes])


def test_hidden_states_must_match_the_maps():
  maps = [np.full((2, 3, 5, 5), 0.2, np.float32)]
  with pytest.raises(ValueError, match=r'Hidden states \(2, 6, 8\)'):
    part_selection.select_parts(maps, np.zeros((2, 6, 8), np.float32))
