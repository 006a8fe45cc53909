"""Parameter and MAC counts of a model, under the paper's convention and XLA's.

Usage (or `python -m cnl_jax.summary ...`; the command line is cnl_jax/cli/summary.py)::

  cnl-jax summary --model resnet50_5cnl --num-classes 200 --image-size 448
  cnl-jax summary --model rmg_pmsi_mobilenetv2 --override stem_stride=2
  cnl-jax summary --model tasn_resnet50 --image-size 512 --graph train

The paper (Table 2) counts multiply-accumulates of convolutions and the classifier only,
counts CNL's shared theta once per response (its released code recomputes it per
response), and leaves out the attention products; those are listed separately here.
`--graph train` counts the training forward pass, which differs from the test pass for
models with training-only branches (TASN's heads); batch statistics and dropout are live.
A module that multiplies attention maps outside `DotProductAttention` counts its products
itself (`attention_macs(*args)`: TransFG's part selection chain).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.methods import create_model, get_preset
from cnl_jax.models import CNL, DotProductAttention


@dataclasses.dataclass(frozen=True)
class PaperRow:
  """One model of the paper's Table 2 (CUB: 200 classes, 448 px).

  `printed_params` and `printed_flops` are the paper's columns as printed: "#param (x10^7)"
  and "Flops (x10^9)", the latter multiply-accumulates in units of 1e10 with BN counted
  inconsistently between rows. `params` and `macs` (conv + fc) are not printed: they are
  reconstructed from the released code (FouriYe/CNL-ICIP2020 @ 2f483ea, cnlnet_5CNL.py) as
  the exact counts of the models that round to the printed ones.
  """
  printed_params: float
  printed_flops: float
  params: int
  macs: float


PAPER_TABLE_2 = {
    'resnet50': PaperRow(2.39, 1.64, 23_917_832, 1.6349e10),
    'resnet50_5nl': PaperRow(3.13, 2.48, 31_266_056, 2.4569e10),
    'resnet50_5cnl': PaperRow(2.71, 2.03, 27_084_040, 2.0253e10),
    'resnet101': PaperRow(4.29, 3.15, 42_909_960, 3.1197e10),
    'resnet101_5nl': PaperRow(5.03, 3.96, 50_258_184, 3.9418e10),
    'resnet101_5cnl': PaperRow(4.61, 3.52, 46_076_168, 3.5102e10),
}


@dataclasses.dataclass(frozen=True)
class ModelSummary:
  """Counts for one image at one size. MACs are multiply-accumulates (1 MAC = 2 FLOPs)."""
  model: str
  num_classes: int
  image_size: tuple[int, int]
  graph: str            # 'test' (eval mode) or 'train'
  overrides: dict[str, Any]
  params: int
  macs_paper: int       # conv + dense, CNL theta counted once per response
  macs_attention: int   # the two matrix products of every attention, and attention_macs
  xla_flops: float      # XLA's cost analysis of the whole forward pass


def _layer_macs(module: nn.Module, inputs: jax.Array, output: jax.Array) -> int:
  """MACs of one conv or dense call from its shapes."""
  in_features = inputs.shape[-1]
  if isinstance(module, nn.Conv):
    in_features = in_features // module.feature_group_count * math.prod(module.kernel_size)
  return math.prod(output.shape[:-1]) * in_features * output.shape[-1]


def _attention_macs(query: jax.Array, key: jax.Array, value: jax.Array,
                    bias: jax.Array | None = None) -> int:
  """query key^T plus weights value, per head: [b, q, (heads,) d] x [b, k, (heads,) d] and
  [b, (heads,) q, k] x [b, k, (heads,) dv]; the bias adds no products."""
  del bias
  heads = query.shape[2] if query.ndim == 4 else 1
  return query.shape[0] * query.shape[1] * key.shape[1] * heads * (
      query.shape[-1] + value.shape[-1])


def _forward(model: nn.Module, graph: str, rng_names: Sequence[str] = ('dropout',)):
  """(variables, images) -> outputs of the test or the training forward pass, the latter
  drawing from the streams `rng_names` (those of the model's method)."""
  if graph == 'test':
    return lambda variables, images: model.apply(variables, images, train=False)
  rngs = {name: jax.random.key(index) for index, name in enumerate(rng_names)}
  return lambda variables, images: model.apply(variables, images, train=True, rngs=rngs,
                                               mutable=['batch_stats'])


def count_macs(model: nn.Module, variables, images: jax.ShapeDtypeStruct, graph: str = 'test',
               rng_names: Sequence[str] = ('dropout',)) -> tuple[int, int]:
  """(paper-convention conv + dense MACs, attention MACs), traced abstractly (no compute);
  the training graph draws from the streams `rng_names`."""
  layer_macs: dict[tuple[str, ...], int] = {}
  multiplicity: dict[tuple[str, ...], int] = {}
  attention = []

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    module = context.module
    if context.method_name != '__call__':
      return output
    if isinstance(module, (nn.Conv, nn.Dense)):
      layer_macs[module.path] = layer_macs.get(module.path, 0) + _layer_macs(
          module, args[0], output)
    elif isinstance(module, DotProductAttention):
      attention.append(_attention_macs(*args))
    elif hasattr(module, 'attention_macs'):
      attention.append(module.attention_macs(*args))
    elif isinstance(module, CNL):
      multiplicity[module.path + ('theta',)] = len(args[1])
    return output

  with nn.intercept_methods(record):
    jax.eval_shape(_forward(model, graph, rng_names), variables, images)
  paper = sum(macs * multiplicity.get(path, 1) for path, macs in layer_macs.items())
  return paper, sum(attention)


def summarize(name: str, num_classes: int, image_size: Sequence[int], graph: str = 'test',
              overrides: dict[str, Any] | None = None) -> ModelSummary:
  """Counts parameters and MACs of a named model (with `overrides` of its attributes) for
  one image of `image_size`, in its test or training forward pass."""
  overrides = overrides or {}
  model = create_model(name, num_classes, **overrides)
  rng_names = get_preset(name).method.rng_names
  # The training pass traces two images (BatchNorm1d needs two values per channel) and
  # reports half of each count.
  batch = 2 if graph == 'train' else 1
  images = jax.ShapeDtypeStruct((batch, *image_size, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
  params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables['params']))
  macs_paper, macs_attention = count_macs(model, variables, images, graph, rng_names)
  cost = jax.jit(_forward(model, graph, rng_names)).lower(variables, images).cost_analysis()
  return ModelSummary(name, num_classes, tuple(image_size), graph, overrides, params,
                      macs_paper // batch, macs_attention // batch,
                      float(cost['flops']) / batch)


if __name__ == '__main__':  # python -m cnl_jax.summary: the same as cnl-jax summary
  from cnl_jax.cli import harness  # pylint: disable=import-outside-toplevel
  harness.main('summary')
