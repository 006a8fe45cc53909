"""`cnl-jax export --workdir RUN [--format tflite|onnx] [--quantize none|float16|int8] ...`:
a trained run as LiteRT (.tflite) or ONNX, with the metadata JSON an app needs.

Exports the eval-mode prediction of the run's reported head at a fixed batch size; the input
is float32 [batch, size, size, 3] as the eval transform makes it. int8 calibrates on
--calibration-count training images through the eval transform, or on the given image files.
Run the result with `python -m cnl_jax.lite predict FILE images...`.
"""

from __future__ import annotations

import argparse
import os

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
                       ) -> np.ndarray:
  """The int8 calibration images, or an error that says how to give some."""
  config = export_source.config
  if args.calibration_images:
    images = []
    for path in image_paths(args.calibration_images)[:args.calibration_count]:
      try:
        images.append(read_eval_image(path, config.image_size, config.eval_resize, 'float32',
                                      augmentation(config.data)))
      except UnreadableImageError:
        pass
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
  return np.stack(images)


def run(args: argparse.Namespace) -> int:
  export_source = source.source_from_run(args.workdir, args.step)
  calibration = calibration_images(export_source, args) if args.quantize == 'int8' else None
  try:
    model_path, json_path = exporter.export(
        export_source, args.output or os.path.join(args.workdir, 'export'), args.format,
        args.quantize, args.batch_size, calibration)
  except ConversionError as error:
    raise ExportError(f'{args.format} cannot represent {export_source.model}: {error} '
                      '(README, "Deploy").') from error
  print(f'{model_path} ({os.path.getsize(model_path):,} bytes)\n{json_path}')
  return 0
