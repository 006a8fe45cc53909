"""The Cross-layer Non-Local (CNL) block: one query map attends to several response maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.attention import DotProductAttention, Implementation
from cnl_jax.models.layers import Projection, ZeroBatchNorm

Reshape = Literal['paper', 'released']
RESHAPES = ('paper', 'released')


class CNL(nn.Module):
  """X_q + sum_i BN_i(z(softmax(theta(X_q) phi_i(X_i)^T / sqrt(d)) g_i(X_i))).

  theta (query) and z are shared by all responses; phi_i, g_i and BN_i belong to response i.
  Each response has its own softmax over its own positions; responses may differ in channels
  and spatial size from the query and from each other. Every BN_i starts at zero, so the
  block is the identity at initialisation.

  Attributes:
    inner_features: d, the width of theta, phi_i, g_i (256 in the paper).
    response_channels: the channel count of each response, checked on every call when given.
    reshape: 'paper' reads the attended values [positions, d] back as a [height, width, d]
      map (the paper's equation); 'released' reproduces the authors' code, which reshapes
      [positions, d] row-major into [d, height, width] without a transpose.
  """
  inner_features: int = 256
  response_channels: Sequence[int] | None = None
  reshape: Reshape = 'paper'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @nn.compact
  def __call__(self, query: jax.Array, responses: Sequence[jax.Array], *,
               train: bool = False) -> jax.Array:
    """query [batch, height, width, channels]; responses [batch, h_i, w_i, c_i] each."""
    self._check(query, responses)
    batch, height, width, channels = query.shape
    inner = self.inner_features
    project = lambda name, features: Projection(
        features, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    flat = lambda t: t.reshape(batch, -1, inner)

    theta = flat(project('theta', inner)(query))
    z = project('z', channels)
    output = query
    for i, response in enumerate(responses):
      attended = DotProductAttention(self.attention_implementation, name=f'attention_{i}')(
          theta,
          flat(project(f'phi_{i}', inner)(response)),
          flat(project(f'g_{i}', inner)(response)))
      z_i = ZeroBatchNorm(use_running_average=not train, dtype=self.dtype,
                          param_dtype=self.param_dtype, name=f'bn_{i}')(
                              z(self._to_map(attended, height, width)))
      output = output + z_i
    return output

  def _to_map(self, attended: jax.Array, height: int, width: int) -> jax.Array:
    """[batch, height * width, d] -> [batch, height, width, d] as `reshape` says."""
    batch, _, inner = attended.shape
    if self.reshape == 'paper':
      return attended.reshape(batch, height, width, inner)
    # The released PyTorch code views the [positions, d] buffer as [d, height, width].
    return attended.reshape(batch, inner, height, width).transpose(0, 2, 3, 1)

  def _check(self, query: jax.Array, responses: Sequence[jax.Array]) -> None:
    if self.reshape not in RESHAPES:
      raise ValueError(f'CNL reshape must be one of {RESHAPES}, got {self.reshape!r}.')
    if query.ndim != 4 or any(r.ndim != 4 for r in responses):
      raise ValueError('CNL takes [batch, height, width, channels] maps; got shapes '
                       f'{query.shape} and {[r.shape for r in responses]}.')
    if not responses:
      raise ValueError('CNL needs at least one response map.')
    if any(r.shape[0] != query.shape[0] for r in responses):
      raise ValueError(f'CNL responses {[r.shape for r in responses]} do not share the '
                       f'batch size of the query {query.shape}.')
    if self.response_channels is not None:
      got = tuple(r.shape[-1] for r in responses)
      if got != tuple(self.response_channels):
        raise ValueError(
            f'CNL was configured for responses with channels {tuple(self.response_channels)} '
            f'but got {len(got)} responses with channels {got}; pass the maps in the '
            'configured order or change `response_channels`.')
