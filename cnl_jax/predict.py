"""Top-k classes of image files under a trained run.

Usage: python -m cnl_jax.predict --workdir runs/demo bird.jpg photos/ [--top-k 5] [--json]

Each image goes through the evaluation transform (short side resized, center crop). Files
that cannot be read are reported on stderr (or under "errors" with --json) and skipped;
the exit status is 1 when no image could be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnl_jax.data.image_files import UnreadableImageError
from cnl_jax.errors import exits_on_user_error
from cnl_jax.lite import image_paths, report, top_k_classes
from cnl_jax.trained_run import TrainedRun, load_run, read_image


def predict_files(run: TrainedRun, paths: Sequence[str], top_k: int = 5
                  ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
  """(predictions, errors): per readable file its `top_k` classes and probabilities, and
  per unreadable file the reason."""
  images, readable, errors = [], [], []
  for path in paths:
    try:
      images.append(read_image(run, path))
      readable.append(path)
    except UnreadableImageError as error:
      errors.append({'file': path, 'error': str(error)})
  batch_size = run.config.eval_batch_size
  logits = [run.logits(np.stack(images[start:start + batch_size]))
            for start in range(0, len(images), batch_size)]
  if not logits:
    return [], errors
  return top_k_classes(readable, np.concatenate(logits), run.class_names, top_k), errors


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='The run\'s --workdir.')
  parser.add_argument('images', nargs='+', help='Image files or folders of them.')
  parser.add_argument('--top-k', type=int, default=5, help='Classes to list per image.')
  parser.add_argument('--json', action='store_true', help='Print one JSON object.')
  args = parser.parse_args(argv)
  if args.top_k < 1:
    parser.error(f'--top-k must be at least 1, got {args.top_k}.')
  run = load_run(args.workdir)
  predictions, errors = predict_files(run, image_paths(args.images),
                                      min(args.top_k, len(run.class_names)))
  return report(predictions, errors, args.json)


if __name__ == '__main__':
  sys.exit(main())
