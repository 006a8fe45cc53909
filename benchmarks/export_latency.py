"""Exported models on the CPU: one image through JAX, LiteRT (float32, float16, int8) and
onnxruntime, on 1 and on 2 threads, with file sizes and int8's top-1 change.

Exports RMG-PMSI (both stem strides), MobileNetV2 and ResNet-50 + CNL at 448 px with random
weights and batch-norm statistics of 16 demo training images (with the initial statistics,
MobileNetV2's activations shrink block by block to logits near 1e-9, which int8 rounds to one
value), calibrates int8 on demo training images through the eval transform, and counts how
often int8's top-1 differs from float32's on demo test images (and, for each --workdir, on
that trained run's whole test split). Latency runs in a child process per thread count,
pinned to that many cores (XLA sizes its pool by the cores it may use; LiteRT and
onnxruntime are told the count).

  PYTHONPATH=. python benchmarks/export_latency.py --workdir runs/demo runs/rmg_demo \
      --update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence

import numpy as np

from benchmarks.inference_latency import BENCHMARKED

RUNTIMES = ('jax', 'litert float32', 'litert float16', 'litert int8', 'onnxruntime float32')
# Runtime -> (format, quantize) of the file it runs.
FILES = {'litert float32': ('tflite', 'none'), 'litert float16': ('tflite', 'float16'),
         'litert int8': ('tflite', 'int8'), 'onnxruntime float32': ('onnx', 'none')}


def _config(preset: str, overrides: dict, image_size: int):
  from configs import demo  # pylint: disable=import-outside-toplevel
  config = demo.get_config()
  config.model, config.model_overrides = preset, overrides
  config.image_size, config.eval_resize = image_size, image_size * 8 // 7  # 448 of 512
  return config


def _model(preset: str, overrides: dict, num_classes: int, image_size: int):
  """(model, variables) with random weights; the 'rbg' generator compiles init fast."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from benchmarks.train_throughput import preset_method  # pylint: disable=import-outside-toplevel
  model = preset_method(preset, num_classes, **overrides).model
  image = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
  return model, jax.jit(lambda rng: model.init(rng, image, train=False))(
      jax.random.key(0, impl='rbg'))


def batch_norm_statistics(model, variables: dict, images: np.ndarray) -> dict:
  """`variables` with every BatchNorm's running statistics set to those of `images`.

  A train-mode pass moves each running statistic to m * old + (1 - m) * batch, with the
  layer's own m; one pass from old = 0 and one from old = 1 give both m and the batch value.
  """
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  @jax.jit
  def updated(start: float) -> dict:
    stats = jax.tree.map(lambda value: jnp.full_like(value, start), variables['batch_stats'])
    _, new = model.apply({**variables, 'batch_stats': stats}, images, train=True,
                         mutable=['batch_stats'], rngs={'dropout': jax.random.key(0)})
    return new['batch_stats']

  from_zero, from_one = updated(0.0), updated(1.0)
  batch = jax.tree.map(lambda zero, one: zero / (1 - (one - zero)), from_zero, from_one)
  return {**variables, 'batch_stats': batch}


def quantization_parameter_bytes(path: str) -> int:
  """Bytes of the scales (float32) and zero points (int64, the schema's type) in a LiteRT
  file: per output channel of every int8 weight and int32 bias, per tensor otherwise."""
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  return sum(4 * details['quantization_parameters']['scales'].size
             + 8 * details['quantization_parameters']['zero_points'].size
             for details in Interpreter(model_path=path).get_tensor_details())


def export_all(folder: pathlib.Path, args: argparse.Namespace) -> dict:
  """Writes every benchmarked file; returns per model its file sizes and int8's top-1 change."""
  from cnl_jax import data, lite  # pylint: disable=import-outside-toplevel
  from cnl_jax.export import exporter, source  # pylint: disable=import-outside-toplevel
  results = {}
  for index, (label, preset, overrides) in enumerate(BENCHMARKED):
    config = _config(preset, overrides, args.image_size)
    model, variables = _model(preset, overrides, args.num_classes, args.image_size)
    calibration = source.training_images(config, args.calibration_count)
    variables = batch_norm_statistics(model, variables, calibration[:16])
    export_source = source.source_from_config(
        config, [str(i) for i in range(args.num_classes)], variables)
    sizes = {}
    for runtime, (file_format, quantize) in FILES.items():
      model_path, _ = exporter.export(export_source, str(folder / str(index)), file_format,
                                      quantize, calibration=calibration)
      sizes[runtime] = os.path.getsize(model_path)
    test = next(data.eval_batches(config.data, batch_size=args.test_count,
                                  image_size=args.image_size, eval_resize=config.eval_resize))
    top1 = {quantize: lite.ExportedModel(path).logits(test['image']).argmax(-1)
            for quantize, path in (('none', _path(folder, index, 'float32')),
                                   ('int8', _path(folder, index, 'int8')))}
    results[label] = {'sizes': sizes, 'test_count': args.test_count,
                      'int8_quantization_parameters': quantization_parameter_bytes(
                          _path(folder, index, 'int8')),
                      'top1_changed': int(np.sum(top1['none'] != top1['int8']))}
    print(label, results[label], flush=True)
  return results


def trained_run_change(workdir: str, folder: pathlib.Path, args: argparse.Namespace) -> str:
  """One line: a trained run's int8 top-1 change over its whole test split, and sizes."""
  from cnl_jax import data, lite  # pylint: disable=import-outside-toplevel
  from cnl_jax.export import exporter, source  # pylint: disable=import-outside-toplevel
  run = source.source_from_run(workdir)
  config = run.config
  batches = list(data.eval_batches(config.data, batch_size=100, image_size=config.image_size,
                                   eval_resize=config.eval_resize))
  images = np.concatenate([batch['image'][batch['mask']] for batch in batches])
  labels = np.concatenate([batch['label'][batch['mask']] for batch in batches])
  calibration = source.training_images(config, args.calibration_count)
  top1, sizes = {}, {}
  for quantize in ('none', 'int8'):
    path, _ = exporter.export(run, str(folder / 'run'), 'tflite', quantize,
                              calibration=calibration)
    top1[quantize] = lite.ExportedModel(path).logits(images).argmax(-1)
    sizes[quantize] = os.path.getsize(path)
  changed = int(np.sum(top1['none'] != top1['int8']))
  accuracy = {quantize: 100 * np.mean(predicted == labels) for quantize, predicted in top1.items()}
  return (f'Trained: {config.model} of `{workdir}` ({config.image_size} px, step {run.step}): '
          f'int8 top-1 differs from float32\'s on {changed} of {len(images)} test images; '
          f'test top-1 {accuracy["none"]:.1f}% float32, {accuracy["int8"]:.1f}% int8; LiteRT '
          f'files {sizes["none"] / 1e6:.2f} MB float32, {sizes["int8"] / 1e6:.2f} MB int8 '
          f'({sizes["none"] / sizes["int8"]:.2f}x).\n')


def _path(folder: pathlib.Path, index: int, numbers: str, extension: str = 'tflite') -> str:
  (path,) = (folder / str(index)).glob(f'*_{numbers}.{extension}')
  return str(path)


def measure(folder: pathlib.Path, args: argparse.Namespace, threads: int) -> dict:
  """Median seconds per image of every runtime, on `threads` cores (child process)."""
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
  import jax  # pylint: disable=import-outside-toplevel
  from benchmarks.train_throughput import timed_calls  # pylint: disable=import-outside-toplevel
  from cnl_jax import lite  # pylint: disable=import-outside-toplevel
  image = np.random.default_rng(0).normal(
      size=(1, args.image_size, args.image_size, 3)).astype(np.float32)
  results = {}
  for index, (label, preset, overrides) in enumerate(BENCHMARKED):
    model, variables = _model(preset, overrides, args.num_classes, args.image_size)
    forward = jax.jit(lambda v, x, model=model: model.apply(v, x, train=False))
    calls = {'jax': lambda forward=forward, variables=variables: forward(variables, image)}
    for runtime, (file_format, quantize) in FILES.items():
      numbers = 'float32' if quantize == 'none' else quantize
      exported = lite.ExportedModel(_path(folder, index, numbers, file_format), threads)
      calls[runtime] = lambda exported=exported: exported.logits(image)
    results[label] = {runtime: float(np.median(timed_calls(call, args.warmup, args.calls)))
                      for runtime, call in calls.items()}
    print(threads, label, results[label], file=sys.stderr, flush=True)
  return results


def table(exports: dict, latency: dict[int, dict]) -> str:
  """Markdown: per model and thread count the median ms of each runtime, then sizes."""
  lines = ['| model | threads | ' + ' | '.join(f'{runtime} ms' for runtime in RUNTIMES) + ' |',
           '|---|---|' + '---|' * len(RUNTIMES)]
  for label in exports:
    for threads, results in latency.items():
      lines.append(f'| {label} | {threads} | ' + ' | '.join(
          f'{1000 * results[label][runtime]:.1f}' for runtime in RUNTIMES) + ' |')
  lines += ['', '| model | LiteRT float32 MB | float16 MB | int8 MB | float32 / int8 | '
            'int8 scales + zero points MB | ONNX float32 MB | int8 top-1 changed |',
            '|---|---|---|---|---|---|---|---|']
  for label, result in exports.items():
    sizes = {runtime: size / 1e6 for runtime, size in result['sizes'].items()}
    lines.append(
        f'| {label} | {sizes["litert float32"]:.1f} | {sizes["litert float16"]:.1f} | '
        f'{sizes["litert int8"]:.1f} | '
        f'{sizes["litert float32"] / sizes["litert int8"]:.2f} | '
        f'{result["int8_quantization_parameters"] / 1e6:.2f} | '
        f'{sizes["onnxruntime float32"]:.1f} | '
        f'{result["top1_changed"]} of {result["test_count"]} |')
  return '\n'.join(lines) + '\n'


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--image-size', type=int, default=448)
  parser.add_argument('--num-classes', type=int, default=200)
  parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
  parser.add_argument('--calibration-count', type=int, default=100)
  parser.add_argument('--test-count', type=int, default=50, help='demo test images for top-1')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--calls', type=int, default=10)
  parser.add_argument('--update', type=pathlib.Path, help='Markdown file to write results to')
  parser.add_argument('--workdir', nargs='+', default=[],
                      help='trained runs too: the int8 top-1 change of each')
  parser.add_argument('--measure-folder', type=pathlib.Path, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.measure_folder:  # the child: one thread count
    (threads,) = args.threads
    print(json.dumps(measure(args.measure_folder, args, threads)))
    return
  from benchmarks.input_pipeline import command_line, machine  # pylint: disable=import-outside-toplevel
  from benchmarks.input_pipeline import update_section  # pylint: disable=import-outside-toplevel
  command, machine_description = command_line(), machine()
  with tempfile.TemporaryDirectory() as directory:
    folder = pathlib.Path(directory)
    exports = export_all(folder, args)
    trained = ''.join(trained_run_change(workdir, folder, args) for workdir in args.workdir)
    latency = {}
    for threads in args.threads:
      child = [sys.executable, __file__, '--measure-folder', directory, '--threads',
               str(threads), *(f'--{name}={getattr(args, name.replace("-", "_"))}' for name in
                               ('image-size', 'num-classes', 'warmup', 'calls'))]
      latency[threads] = json.loads(subprocess.run(child, check=True, capture_output=True,
                                                   text=True).stdout.splitlines()[-1])
  import ai_edge_litert  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import onnxruntime  # pylint: disable=import-outside-toplevel
  section = (
      '## Exported models: latency and size\n\n'
      f'`{command}`\n\n'
      f'Machine: {machine_description}; jax {jax.__version__}, ai-edge-litert '
      f'{ai_edge_litert.__version__} (XNNPACK), onnxruntime {onnxruntime.__version__} (CPU). '
      f'One {args.image_size} px image (batch 1), {args.num_classes} classes, random weights '
      'with batch-norm statistics of 16 demo training images; '
      f'median of {args.calls} calls after {args.warmup} warm-up, each process pinned to '
      'that many cores. JAX: the jitted eval forward pass (RMG-PMSI: all four heads; the '
      'export holds only their sum). int8: full-integer, calibrated on '
      f'{args.calibration_count} demo training images through the eval transform; "top-1 '
      f'changed": demo test images whose int8 top-1 differs from float32\'s (random weights '
      'have small margins, so this says little; the trained runs are the lines below the '
      'table). '
      '"scales + zero points": the int8 file\'s per-channel quantization parameters, a float32 '
      'scale and an int64 zero point (the schema\'s types) per output channel of every weight '
      'and bias.\n\n' + table(exports, latency) + '\n' + trained)
  print(section)
  if args.update:
    update_section(args.update, section)


if __name__ == '__main__':
  main()
