"""TransFG's part selection module: the most attended patch per head, chosen from the
attention chain of the first L-1 layers, and those tokens' hidden states with the class token.

After the released code (TACJu/TransFG @ 9336fba, models/modeling.py:235-276,
`Part_Attention` and `Encoder.forward`). The released module multiplies the full attention
matrices, P = A_{L-2} ··· A_1 A_0 per image and head (`last_map = weights[i] @ last_map`), and
then reads only P's class-token row over the patches, P[0, 1:]. Here only that row is carried
through the chain, r <- r A_i (a vector times a matrix per layer): equal in exact arithmetic,
and at 448 px with overlapping patches (1370 tokens) about 0.23 instead of 309 GMACs per
image. Selection is a max, comparisons and gathers (no argmax, sort or scatter), so it
exports to LiteRT and ONNX.

As released: no identity is added to the maps and nothing is renormalised (unlike Abnar and
Zuidema's attention rollout); heads are never mixed; two heads may pick the same patch, and it
is then gathered twice; the hidden states are the last selection layer's output, before any
norm; the position embedding is not added again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


def class_token_attention(attention_maps: Sequence[jax.Array]) -> jax.Array:
  """The class token's row of A_{n-1} ··· A_0, from the maps of layers 0 .. n-1.

  attention_maps: n arrays [batch, heads, tokens, tokens] (query rows, key columns, each row a
  softmax), in layer order. Returns [batch, heads, tokens]: how much the class token attends
  to each token through the whole chain (the class token's own column included). Gradients
  are stopped: the released selection passes none through the maps.
  """
  if not attention_maps:
    raise ValueError('Part selection needs the attention maps of at least one layer, got none.')
  shapes = {tuple(a.shape) for a in attention_maps}
  shape = tuple(attention_maps[0].shape)
  if len(shapes) != 1 or len(shape) != 4 or shape[2] != shape[3]:
    raise ValueError('Part selection takes attention maps [batch, heads, tokens, tokens] of '
                     f'one shape, got {sorted(shapes)}.')
  maps = [jax.lax.stop_gradient(a) for a in attention_maps]
  row = maps[-1][:, :, 0]
  for layer in reversed(maps[:-1]):
    row = jnp.einsum('bhk,bhkt->bht', row, layer)
  return row


def most_attended_patches(class_token_row: jax.Array) -> jax.Array:
  """Per head, the token index (1 .. patches) of the patch the class token attends to most:
  class_token_row [batch, heads, tokens] (`class_token_attention`) -> [batch, heads] int32.

  The class token's own column is excluded; ties go to the first patch, as argmax does.
  """
  return first_max_index(class_token_row[..., 1:]) + 1


def first_max_index(values: jax.Array) -> jax.Array:
  """The index of the first maximum along the last axis, as argmax, int32: [..., n] -> [...].

  Written as a max, a comparison and a min rather than argmax: LiteRT translates argmax, but
  tf2onnx (1.17) does not translate LiteRT's ARG_MAX (its axis is a one-element tensor), so
  the ONNX export would fail.
  """
  size = values.shape[-1]
  is_maximum = values == jnp.max(values, axis=-1, keepdims=True)
  return jnp.min(jnp.where(is_maximum, jnp.arange(size, dtype=jnp.int32), size), axis=-1)


def gather_parts(hidden_states: jax.Array, part_indices: jax.Array) -> jax.Array:
  """The class token followed by the selected tokens: [batch, 1 + parts, width].

  hidden_states: [batch, tokens, width]; part_indices: [batch, parts] token indices.
  """
  parts = jnp.take_along_axis(hidden_states, part_indices[..., None], axis=1)
  return jnp.concatenate([hidden_states[:, :1], parts], axis=1)


class PartSelection(NamedTuple):
  """What the part selection hands on: `tokens` [batch, 1 + heads, width] (the class token and
  the selected tokens, the part layer's input), `indices` [batch, heads] (the token each head
  selected) and `class_token_attention` [batch, heads, tokens] (the chain's class-token row,
  the rollout map the tools draw)."""
  tokens: jax.Array
  indices: jax.Array
  class_token_attention: jax.Array


def select_parts(attention_maps: Sequence[jax.Array], hidden_states: jax.Array
                 ) -> PartSelection:
  """The released `Part_Attention` and the gather after it.

  attention_maps: the first L-1 layers' maps, each [batch, heads, tokens, tokens];
  hidden_states: layer L-1's output [batch, tokens, width].
  """
  if attention_maps and hidden_states.shape[:2] != (attention_maps[0].shape[0],
                                                    attention_maps[0].shape[-1]):
    raise ValueError(f'Hidden states {hidden_states.shape} do not match attention maps '
                     f'{attention_maps[0].shape}: expected [batch, tokens, width].')
  row = class_token_attention(attention_maps)
  indices = most_attended_patches(row)
  return PartSelection(gather_parts(hidden_states, indices), indices, row)


class PartSelector(nn.Module):
  """`select_parts` as a module (no parameters): the point where the network hands the
  maps on, and where `cnl_jax.summary` counts the chain's products (`attention_macs`)."""

  @nn.compact
  def __call__(self, attention_maps: Sequence[jax.Array], hidden_states: jax.Array
               ) -> PartSelection:
    return select_parts(attention_maps, hidden_states)

  @staticmethod
  def attention_macs(attention_maps: Sequence[jax.Array], hidden_states: jax.Array) -> int:
    """Multiply-accumulates of the class-token row chain: n - 1 vector-matrix products of
    [tokens] x [tokens, tokens] per image and head (the released full products cost
    n - 1 matrix products, `tokens` times as many)."""
    del hidden_states
    batch, heads, tokens, _ = attention_maps[0].shape
    return (len(attention_maps) - 1) * batch * heads * tokens * tokens
