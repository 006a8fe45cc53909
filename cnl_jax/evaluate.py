"""Top-1/top-5, per-class accuracy and the most confused classes of a trained run.

Usage: python -m cnl_jax.evaluate --workdir runs/demo [--output runs/demo/evaluation]
                                  [--tta none|flip|five_crop|five_crop_flip]

Runs the latest checkpoint over the whole test split with the evaluation transform (and
the test-time augmentation of --tta, default: the run's config.eval_tta) and writes to
--output: metrics.json, per_class_accuracy.csv, confused_pairs.csv (every
off-diagonal pair of the confusion matrix with a count, most frequent first) and
confusion_matrix.png (rows: true class, columns: predicted class, each cell the fraction of
the true class's images: correct in blue, errors in red, counts printed while classes are named
on the axes, up to 40 classes; titled with the dataset, the split and its top-1).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from cnl_jax import data, figures
from cnl_jax.errors import exits_on_user_error
from cnl_jax.trained_run import TrainedRun, load_run
from cnl_jax.training.eval_views import MODES, views_of


def predict_test_split(run: TrainedRun, tta: str = 'none') -> tuple[np.ndarray, np.ndarray]:
  """(labels [examples], logits [examples, classes]) over the run's whole test split, each
  the mean over the views of test-time augmentation `tta` (`eval_views.MODES`)."""
  config = run.config
  views = views_of(tta)
  labels, logits = [], []
  for batch in data.eval_batches(config.data, batch_size=config.eval_batch_size,
                                 image_size=config.image_size, eval_resize=config.eval_resize,
                                 dtype=config.dtype, crops=views.crops):
    mask = batch['mask']
    labels.append(batch['label'][mask])
    logits.append(run.logits(batch['image'], flip=views.flip)[mask])
  return np.concatenate(labels), np.concatenate(logits)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int
                     ) -> np.ndarray:
  """[true class, predicted class] counts."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (labels, predicted), 1)
  return matrix


def top_k_accuracy(labels: np.ndarray, logits: np.ndarray, k: int) -> float:
  """Fraction of examples whose label is among the k largest logits (ties: lower index)."""
  top = np.argsort(-logits, axis=-1, kind='stable')[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=-1)))


def confused_pairs(matrix: np.ndarray) -> list[tuple[int, int, int]]:
  """(true, predicted, count) of every off-diagonal cell with a count, largest first."""
  true, predicted = np.nonzero(matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype)))
  pairs = [(int(t), int(p), int(matrix[t, p])) for t, p in zip(true, predicted)]
  return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))


def confusion_matrix_figure(run: TrainedRun, matrix: np.ndarray, metrics: dict[str, float]
                            ) -> Figure:
  """The confusion matrix drawn with the run's class names, titled with the split and top-1."""
  title = (f'{run.config.data.name}, {run.config.data.eval_split} split: top-1 '
           f'{metrics["top1"]:.1%} of {metrics["count"]} images')
  return figures.confusion_matrix_figure(matrix, run.class_names, title)


def write_report(run: TrainedRun, labels: np.ndarray, logits: np.ndarray, output: str,
                 num_pairs: int = 10) -> dict[str, float]:
  """Writes the files listed in the module docstring; returns top-1, top-5 and the count."""
  names = run.class_names
  matrix = confusion_matrix(labels, np.argmax(logits, axis=-1), len(names))
  metrics = {'top1': top_k_accuracy(labels, logits, 1),
             'top5': top_k_accuracy(labels, logits, min(5, len(names))),
             'count': len(labels)}
  os.makedirs(output, exist_ok=True)
  with open(os.path.join(output, 'metrics.json'), 'w', encoding='utf-8') as file:
    json.dump(metrics, file, indent=2)
  with open(os.path.join(output, 'per_class_accuracy.csv'), 'w', newline='',
            encoding='utf-8') as file:
    writer = csv.writer(file)
    writer.writerow(['label', 'class', 'examples', 'correct', 'accuracy'])
    for label, (name, row) in enumerate(zip(names, matrix)):
      total = int(row.sum())
      writer.writerow([label, name, total, int(row[label]),
                       f'{row[label] / total:.4f}' if total else ''])
  pairs = confused_pairs(matrix)
  with open(os.path.join(output, 'confused_pairs.csv'), 'w', newline='',
            encoding='utf-8') as file:
    writer = csv.writer(file)
    writer.writerow(['true_label', 'true_class', 'predicted_label', 'predicted_class',
                     'count'])
    writer.writerows([t, names[t], p, names[p], count] for t, p, count in pairs)
  figures.save(confusion_matrix_figure(run, matrix, metrics),
               os.path.join(output, 'confusion_matrix.png'))
  print(f'top-1 {metrics["top1"]:.2%}  top-5 {metrics["top5"]:.2%}  over {len(labels)} '
        'test images')
  print('Most confused (true -> predicted: count):')
  for t, p, count in pairs[:num_pairs]:
    print(f'  {names[t]} -> {names[p]}: {count}')
  return metrics


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='The run\'s --workdir.')
  parser.add_argument('--output', help='Folder for the report (default: WORKDIR/evaluation).')
  parser.add_argument('--tta', choices=tuple(MODES),
                      help="Test-time augmentation (default: the run's config.eval_tta).")
  args = parser.parse_args(argv)
  run = load_run(args.workdir)
  # Runs saved before config.eval_tta existed were evaluated without augmentation.
  labels, logits = predict_test_split(run, args.tta or run.config.get('eval_tta', 'none'))
  write_report(run, labels, logits, args.output or os.path.join(args.workdir, 'evaluation'))
  return 0


if __name__ == '__main__':
  sys.exit(main())
