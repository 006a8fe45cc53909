"""`cnl-jax export --workdir RUN [--format tflite|onnx] [--quantize none|float16|int8] ...`:
a trained run as LiteRT (.tflite) or ONNX, with the metadata JSON an app needs.

Exports the eval-mode prediction of the run's reported head at a fixed batch size; the input
is float32 [batch, size, size, 3] as the eval transform makes it. int8 calibrates on
--calibration-count training images through the eval transform, or on the given image files.
Run the result with `python -m cnl_jax.lite predict FILE images...`. What the converters print
(TensorFlow's, tf2onnx's and LiteRT's notices and warnings) goes to `<model file>.log` beside
the model; the terminal gets the files written and the warnings that ask something of you.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from cnl_jax.data.config import augmentation
from cnl_jax.data.image_files import read_eval_image
from cnl_jax.errors import UserError
from cnl_jax.export import exporter, source
from cnl_jax.export.tflite import ConversionError
from cnl_jax.lite import UnreadableImageError, image_paths


class ExportError(UserError):
  """An export that cannot be made as asked; the message says what to do instead."""


def calibration_images(export_source: source.ExportSource, args: argparse.Namespace
                       ) -> tuple[np.ndarray, list[str]]:
  """The int8 calibration images and the given files that are not readable images, or an
  error that says how to give some."""
  config = export_source.config
  images, unreadable = [], []
  if args.calibration_images:
    for path in image_paths(args.calibration_images)[:args.calibration_count]:
      try:
        images.append(read_eval_image(path, config.image_size, config.eval_resize, 'float32',
                                      augmentation(config.data)))
      except UnreadableImageError:
        unreadable.append(path)
    where = ' '.join(args.calibration_images)
  else:
    try:
      images = list(source.training_images(config, args.calibration_count))
    except Exception as error:  # the dataset is missing or unreadable on this machine
      raise ExportError(f'int8 needs calibration images, but the run\'s training split could '
                        f'not be read ({error}); pass --calibration-images FOLDER.') from error
    where = 'the run\'s training split'
  if len(images) < args.batch_size:
    raise ExportError(f'int8 needs at least {args.batch_size} calibration image(s), found '
                      f'{len(images)} in {where}; pass --calibration-images FOLDER.')
  return np.stack(images), unreadable


@contextlib.contextmanager
def printed_to(path: str) -> Iterator[None]:
  """Everything printed inside the block goes to the file at `path`: Python's output and
  warnings, and what the converters' C++ libraries write to file descriptors 1 and 2."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  sys.stdout.flush()
  sys.stderr.flush()
  with open(path, 'w', encoding='utf-8', buffering=1) as log:
    saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
    try:
      for descriptor in saved:
        os.dup2(log.fileno(), descriptor)
      with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield
    finally:
      log.flush()
      for descriptor, original in saved.items():
        os.dup2(original, descriptor)
        os.close(original)


def run(args: argparse.Namespace) -> int:
  export_source = source.source_from_run(args.workdir, args.step)
  output = args.output or os.path.join(args.workdir, 'export')
  stem = exporter.file_stem(export_source, args.quantize, args.batch_size)
  log_path = os.path.join(output, f'{stem}.{args.format}.log')
  calibration, unreadable = None, []
  try:
    with printed_to(log_path):
      if args.quantize == 'int8':
        calibration, unreadable = calibration_images(export_source, args)
      model_path, json_path = exporter.export(export_source, output, args.format,
                                              args.quantize, args.batch_size, calibration)
  except ConversionError as error:
    raise ExportError(f'{args.format} cannot represent {export_source.model}: {error} '
                      f'(README, "Deploy"; the converter\'s log: {log_path}).') from error
  if unreadable:
    print(f'warning: calibrated without {len(unreadable)} file(s) that are not readable '
          f'images, e.g. {unreadable[0]}.', file=sys.stderr)
  print(f'{model_path} ({os.path.getsize(model_path):,} bytes)\n{json_path}\n'
        f'{log_path} (the converters\' log)')
  return 0
