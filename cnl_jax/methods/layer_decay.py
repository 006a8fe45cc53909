"""Layer-wise learning-rate decay as parameter groups (BEiT, Bao et al., ICLR 2022; timm's
`param_groups_layer_decay`): the layer at depth i of n runs at decay^(n + 1 - i) x the rate,
so the input side moves least and the head at the full rate."""

from __future__ import annotations

from collections.abc import Sequence

from cnl_jax.methods.base import ParameterGroup


def layer_decay_groups(layers: Sequence[Sequence[str]], decay: float
                       ) -> tuple[ParameterGroup, ...]:
  """One group per depth of `layers` (top-level module or parameter names, input side
  first, e.g. a model's `layers()`); parameters in none of them (the head, the final norm,
  added blocks) keep the full rate. timm counts the embeddings as depth 0 and the head as
  depth n + 1, which this reproduces."""
  if not 0 < decay <= 1:
    raise ValueError(f'Layer decay must lie in (0, 1], got {decay}.')
  count = len(layers)
  return tuple(ParameterGroup(f'({"|".join(names)})(/.*)?', decay ** (count - depth))
               for depth, names in enumerate(layers))
