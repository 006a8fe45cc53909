"""Top-k classes of image files under a trained run.

Usage: python -m cnl_jax.predict --workdir runs/demo bird.jpg photos/ [--top-k 5] [--json]

Each image goes through the evaluation transform (short side resized, center crop). Files
that cannot be read are reported on stderr (or under "errors" with --json) and skipped;
the exit status is 1 when no image could be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnl_jax.data.image_files import UnreadableImageError
from cnl_jax.errors import exits_on_user_error
from cnl_jax.trained_run import TrainedRun, load_run, read_image


def image_paths(targets: Sequence[str]) -> list[str]:
  """Files named in `targets`, each folder replaced by its non-hidden files in sorted order."""
  paths = []
  for target in targets:
    if os.path.isdir(target):
      paths += [os.path.join(target, name) for name in sorted(os.listdir(target))
                if not name.startswith('.') and os.path.isfile(os.path.join(target, name))]
    else:
      paths.append(target)
  return paths


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
  predictions = []
  batch_size = run.config.eval_batch_size
  for start in range(0, len(images), batch_size):
    logits = run.logits(np.stack(images[start:start + batch_size]))
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    for path, row in zip(readable[start:start + batch_size], probabilities):
      best = np.argsort(-row, kind='stable')[:top_k]
      predictions.append({'file': path, 'top_k': [
          {'label': int(label), 'class': run.class_names[label],
           'probability': float(row[label])} for label in best]})
  return predictions, errors


def _print_table(predictions: list[dict[str, Any]]) -> None:
  for prediction in predictions:
    print(prediction['file'])
    for rank, entry in enumerate(prediction['top_k'], 1):
      print(f'  {rank}. {entry["probability"]:7.2%}  {entry["class"]}')


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
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
  if args.json:
    print(json.dumps({'predictions': predictions, 'errors': errors}, indent=2))
  else:
    _print_table(predictions)
    for error in errors:
      print(f'skipped {error["error"]}', file=sys.stderr)
  return 0 if predictions else 1


if __name__ == '__main__':
  sys.exit(main())
