"""Images per second per core of the 448 px train and eval pipelines on CUB-sized JPEGs.

Generates JPEGs of CUB's typical size (500x375, smooth content plus sensor-like noise) as an
image-folder dataset, then times `train_batches` and `eval_batches` after a warm-up.

  PYTHONPATH=. python benchmarks/input_pipeline.py --update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import re
import shlex
import sys
import tempfile
import time

import numpy as np


def write_images(root: pathlib.Path, counts: dict[str, int], seed: int = 0) -> float:
  """counts[split] 375x500 JPEGs in root/<split>/<class>/; returns the mean size in kB."""
  import tensorflow as tf
  rng = np.random.default_rng(seed)
  sizes = []
  for split, count in counts.items():
    for index in range(count):
      coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
      image = tf.image.resize(coarse[None], (375, 500), method='bicubic')[0].numpy()
      image += rng.normal(0, 12, image.shape)
      path = root / split / f'class_{index % 4}' / f'{index:05d}.jpg'
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_bytes(tf.io.encode_jpeg(np.clip(image, 0, 255).astype(np.uint8),
                                         quality=90).numpy())
      sizes.append(path.stat().st_size)
  return float(np.mean(sizes)) / 1000


def throughput(batches, batch_size: int, warmup: int, steps: int, repeats: int
               ) -> tuple[list[float], list[float]]:
  """Images per wall second and per CPU second (all threads of this process), for `repeats`
  consecutive timings of `steps` batches after a warm-up. CPU seconds measure the cost per
  core even when other work shares the machine; wall seconds do not."""
  for _ in range(warmup):
    next(batches)
  wall_rates, cpu_rates = [], []
  for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
      next(batches)
    wall_rates.append(steps * batch_size / (time.perf_counter() - wall))
    cpu_rates.append(steps * batch_size / (time.process_time() - cpu))
  return wall_rates, cpu_rates


def row(name: str, rates: tuple[list[float], list[float]], cores: int) -> str:
  """A table row: medians with their range over the repeats."""
  def cell(values):
    return f'{np.median(values):.0f} ({min(values):.0f}-{max(values):.0f})'
  wall, cpu = rates
  return f'| {name} | {cell(wall)} | {cell([r / cores for r in wall])} | {cell(cpu)} |\n'


def machine() -> str:
  model = platform.processor() or platform.machine()
  try:
    cpuinfo = pathlib.Path('/proc/cpuinfo').read_text()
    model = re.search(r'model name\s*:\s*(.*)', cpuinfo).group(1)
  except (OSError, AttributeError):
    pass
  # Other work on the machine lowers the numbers; the load average before the run shows it.
  return (f'{model}, {len(os.sched_getaffinity(0))} cores available, {platform.system()}, '
          f'1-minute load average {os.getloadavg()[0]:.1f} before the run')


def command_line() -> str:
  """The command that ran this benchmark, as a reader would type it from the repo root."""
  return 'PYTHONPATH=. python ' + ' '.join(shlex.quote(arg) for arg in sys.argv)


def update_section(path: pathlib.Path, section: str):
  """Replaces (or appends) the section of a Markdown file titled like `section`'s first line."""
  text = path.read_text() if path.exists() else '# Benchmarks\n'
  heading = section.split('\n', 1)[0]
  pattern = re.compile(re.escape(heading) + r'\n.*?(?=\n## |\Z)', re.S)
  text = pattern.sub(lambda _: section.rstrip('\n') + '\n', text) if pattern.search(text) else (
      text.rstrip('\n') + '\n\n' + section)
  path.write_text(text.rstrip('\n') + '\n')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--images', type=int, default=256, help='training JPEGs')
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--image_size', type=int, default=448)
  parser.add_argument('--eval_resize', type=int, default=512)
  parser.add_argument('--warmup', type=int, default=3, help='batches before timing')
  parser.add_argument('--steps', type=int, default=24, help='batches per timing')
  parser.add_argument('--repeats', type=int, default=3, help='timings per pipeline')
  parser.add_argument('--update', type=pathlib.Path, help='Markdown file to write results to')
  args = parser.parse_args()
  machine_description = machine()

  from cnl_jax import data
  from configs.default import data_config
  import tensorflow as tf
  cores = len(os.sched_getaffinity(0))
  with tempfile.TemporaryDirectory() as workdir:
    root = pathlib.Path(workdir) / 'images'
    # The eval split is one pass long enough for every timing, so that no pipeline start-up
    # is timed.
    batches = args.warmup + args.steps * args.repeats
    kilobytes = write_images(root, {'train': args.images, 'test': batches * args.batch_size})
    config = data_config()
    config.name = 'image_folder'
    config.manual_dir = str(root)
    config.data_dir = str(pathlib.Path(workdir) / 'tfds')
    data.load_info(config)
    train = throughput(
        data.train_batches(config, batch_size=args.batch_size, image_size=args.image_size,
                           seed=0), args.batch_size, args.warmup, args.steps, args.repeats)
    evaluation = throughput(
        data.eval_batches(config, batch_size=args.batch_size, image_size=args.image_size,
                          eval_resize=args.eval_resize),
        args.batch_size, args.warmup, args.steps, args.repeats)

  command = command_line()
  section = (
      '## Input pipeline\n\n'
      f'`{command}`\n\n'
      f'Machine: {machine_description}; TensorFlow {tf.__version__}. JPEGs 500x375, quality 90, mean '
      f'{kilobytes:.0f} kB; batch {args.batch_size}, float32 output; median (range) of '
      f'{args.repeats} timings of {args.steps} batches after {args.warmup} warm-up.\n\n'
      '| pipeline | images/s (wall) | wall images/s / cores | images per CPU-second |\n'
      '|---|---|---|---|\n'
      + row(f'train {args.image_size} (random-resized crop, flip)', train, cores)
      + row(f'eval {args.eval_resize} -> {args.image_size} (resize, center crop)', evaluation,
            cores))
  print(section)
  if args.update:
    update_section(args.update, section)


if __name__ == '__main__':
  main()
