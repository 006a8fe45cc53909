"""Export a trained run to LiteRT (.tflite) or ONNX, with the metadata JSON an app needs.

Usage: python -m cnl_jax.export --workdir RUN [--format tflite|onnx]
           [--quantize none|float16|int8] [--output DIR] [--batch-size N]
           [--calibration-count 300] [--calibration-images FILES_OR_FOLDERS ...] [--step N]

Exports the eval-mode prediction of the run's reported head at a fixed batch size; the input
is float32 [batch, size, size, 3] as the eval transform makes it. int8 calibrates on
--calibration-count training images through the eval transform, or on the given image files.
Run the result with `python -m cnl_jax.lite predict FILE images...`. A bad request ends with
one line on stderr and exit status 1 (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from cnl_jax.export import exporter, source
from cnl_jax.export.tflite import QUANTIZATIONS, ConversionError
from cnl_jax.lite import image_paths

DEFAULT_CALIBRATION_COUNT = 300


class _OneLineParser(argparse.ArgumentParser):
  """Reports a bad command line in one line, without the usage block."""

  def error(self, message: str):
    self.exit(2, f'{self.prog}: {message}\n')


def _parser() -> argparse.ArgumentParser:
  parser = _OneLineParser(prog='cnl_jax.export',
                          description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='The run\'s --workdir.')
  parser.add_argument('--format', default='tflite', choices=exporter.FORMATS)
  parser.add_argument('--quantize', default='none', choices=QUANTIZATIONS,
                      help='none: float32; float16: weights in half precision; int8: '
                      'full-integer post-training quantization.')
  parser.add_argument('--output', default=None, help='Folder for the files (RUN/export/).')
  parser.add_argument('--batch-size', type=int, default=1, help='The fixed batch size.')
  parser.add_argument('--calibration-count', type=int, default=DEFAULT_CALIBRATION_COUNT,
                      help='int8: training images to calibrate on.')
  parser.add_argument('--calibration-images', nargs='+', default=None,
                      help='int8: calibrate on these image files or folders instead.')
  parser.add_argument('--step', type=int, default=None, help='Checkpoint (default: latest).')
  return parser


def _calibration(export_source: source.ExportSource, args: argparse.Namespace) -> np.ndarray:
  """The int8 calibration images, or an error that says how to give some."""
  if args.calibration_images:
    paths = image_paths(args.calibration_images)[:args.calibration_count]
    images = []
    for path in paths:
      try:
        images.append(source.image_file(path, export_source.config))
      except source.unreadable_image_error():
        pass
    where = ' '.join(args.calibration_images)
  else:
    try:
      images = list(source.training_images(export_source.config, args.calibration_count))
    except Exception as error:  # the dataset is missing or unreadable on this machine
      raise ValueError(f'int8 needs calibration images, but the run\'s training split could '
                       f'not be read ({error}); pass --calibration-images FOLDER.') from error
    where = 'the run\'s training split'
  if len(images) < args.batch_size:
    raise ValueError(f'int8 needs at least {args.batch_size} calibration image(s), found '
                     f'{len(images)} in {where}; pass --calibration-images FOLDER.')
  return np.stack(images)


def _exit(parser: argparse.ArgumentParser, message: str) -> None:
  """Ends the program with `message` on one line of stderr."""
  parser.exit(1, f'{parser.prog}: {" ".join(message.split())}\n')


def main(argv: Sequence[str] | None = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  for flag, value in (('--batch-size', args.batch_size),
                      ('--calibration-count', args.calibration_count)):
    if value < 1:
      parser.error(f'{flag} must be at least 1, got {value}.')
  try:
    export_source = source.source_from_run(args.workdir, args.step)
    calibration = _calibration(export_source, args) if args.quantize == 'int8' else None
    model_path, json_path = exporter.export(
        export_source, args.output or os.path.join(args.workdir, 'export'), args.format,
        args.quantize, args.batch_size, calibration)
  except ConversionError as error:
    _exit(parser, f'{args.format} cannot represent {export_source.model}: {error} (README, '
          '"Deploy").')
  except (OSError, ValueError) as error:
    _exit(parser, str(error))
  print(f'{model_path} ({os.path.getsize(model_path):,} bytes)\n{json_path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
