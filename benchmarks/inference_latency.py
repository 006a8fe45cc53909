"""Inference latency of one image: RMG-PMSI (both stem strides), MobileNetV2, ResNet-50 + CNL.

The point of a mobile backbone is a small per-image cost where no batch fills a device: this
times the jitted eval forward pass on a batch of one image, compilation excluded, on JAX's
default device (the CPU unless a GPU is installed).

  PYTHONPATH=. python benchmarks/inference_latency.py --update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.input_pipeline import command_line, machine, update_section
from benchmarks.train_throughput import preset_method, timed_calls
from cnl_jax.summary import count_macs

# (label, preset, overrides): the released RMG-PMSI, its stride-2 variant, and references.
BENCHMARKED: tuple[tuple[str, str, dict], ...] = (
    ('rmg_pmsi_mobilenetv2 (stem stride 1, released)', 'rmg_pmsi_mobilenetv2',
     {'stem_stride': 1}),
    ('rmg_pmsi_mobilenetv2 (stem stride 2)', 'rmg_pmsi_mobilenetv2', {'stem_stride': 2}),
    ('mobilenet_v2', 'mobilenet_v2', {}),
    ('resnet50_5cnl', 'resnet50_5cnl', {}),
)


@dataclasses.dataclass(frozen=True)
class Latency:
  """Seconds of single forward passes of one model on one image."""
  label: str
  params: int
  macs: int
  compile_seconds: float
  seconds: list[float]


def measure(label: str, preset: str, overrides: dict, *, num_classes: int, image_size: int,
            warmup: int, count: int) -> Latency:
  """Compiles the eval forward pass of `preset` for one image, then times `count` calls."""
  model = preset_method(preset, num_classes, **overrides).model
  image = jnp.asarray(np.random.default_rng(0).normal(size=(1, image_size, image_size, 3)),
                      jnp.float32)
  # The 'rbg' generator compiles initialisers several times faster than threefry on CPU.
  variables = jax.jit(lambda rng: model.init(rng, image, train=False))(
      jax.random.key(0, impl='rbg'))
  start = time.perf_counter()
  forward = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(
      variables, image).compile()
  compile_seconds = time.perf_counter() - start
  seconds = timed_calls(lambda: forward(variables, image), warmup, count)
  params = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables['params']))
  macs = sum(count_macs(model, variables, jax.ShapeDtypeStruct(image.shape, image.dtype)))
  return Latency(label, params, macs, compile_seconds, seconds)


def table(results: Sequence[Latency]) -> str:
  """A Markdown table: median (range) milliseconds per image, params, GMACs, compile time."""
  lines = ['| model | params | GMACs | latency ms, median (range) | compile s |',
           '|---|---|---|---|---|']
  for result in results:
    ms = [1000 * s for s in result.seconds]
    lines.append(f'| {result.label} | {result.params:,} | {result.macs / 1e9:.2f} | '
                 f'{np.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f}) | '
                 f'{result.compile_seconds:.1f} |')
  return '\n'.join(lines) + '\n'


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--image-size', type=int, default=448)
  parser.add_argument('--num-classes', type=int, default=200)
  parser.add_argument('--warmup', type=int, default=2, help='untimed calls after compiling')
  parser.add_argument('--calls', type=int, default=10, help='timed calls per model')
  parser.add_argument('--update', type=pathlib.Path, help='Markdown file to write results to')
  args = parser.parse_args(argv)
  machine_description = machine()
  device = jax.devices()[0]
  results = []
  for label, preset, overrides in BENCHMARKED:
    results.append(measure(label, preset, overrides, num_classes=args.num_classes,
                           image_size=args.image_size, warmup=args.warmup, count=args.calls))
    print(table(results[-1:]).splitlines()[-1], flush=True)

  command = command_line()
  section = (
      '## Inference latency, one image\n\n'
      f'`{command}`\n\n'
      f'Machine: {machine_description}; jax {jax.__version__}, {device.device_kind} '
      f'({device.platform}). One {args.image_size} px image (batch 1), float32, '
      f'{args.num_classes} classes; the jitted eval forward pass (for RMG-PMSI all four '
      f'heads); median (range) of {args.calls} calls, each waited for, after {args.warmup} '
      'warm-up calls; compilation timed apart. GMACs: conv and fc multiply-accumulates '
      '(`cnl_jax.summary`, attention products included for CNL).\n\n'
      + table(results))
  print(section)
  if args.update:
    update_section(args.update, section)


if __name__ == '__main__':
  main()
