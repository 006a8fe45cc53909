"""`cnl-jax eval --workdir RUN [--output DIR] [--tta none|flip|five_crop|five_crop_flip]`:
top-1/top-5, per-class accuracy and the most confused classes of a trained run.

Runs the latest checkpoint over the whole test split with the training code's eval step (and
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
from collections.abc import Sequence

import ml_collections
import numpy as np
from matplotlib.figure import Figure

from cnl_jax import data, figures, training
from cnl_jax.cli.parsers import UsageError
from cnl_jax.training.eval_views import MODES
from cnl_jax.training.run_config import load_run_config


def confused_pairs(matrix: np.ndarray) -> list[tuple[int, int, int]]:
  """(true, predicted, count) of every off-diagonal cell with a count, largest first."""
  true, predicted = np.nonzero(matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype)))
  pairs = [(int(t), int(p), int(matrix[t, p])) for t, p in zip(true, predicted)]
  return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))


def confusion_matrix_figure(config: ml_collections.ConfigDict, class_names: Sequence[str],
                            matrix: np.ndarray, metrics: dict[str, float]) -> Figure:
  """The confusion matrix drawn with the class names, titled with the split and top-1."""
  title = (f'{config.data.name}, {config.data.eval_split} split: top-1 '
           f'{metrics["top1"]:.1%} of {metrics["count"]} images')
  return figures.confusion_matrix_figure(matrix, class_names, title)


def write_report(config: ml_collections.ConfigDict, class_names: Sequence[str],
                 evaluation: training.Evaluation, output: str, num_pairs: int = 10
                 ) -> dict[str, float]:
  """Writes the files listed in the module docstring; returns top-1, top-5 and the count."""
  names, matrix = class_names, evaluation.confusion
  metrics = {'top1': evaluation.metrics['top1'], 'top5': evaluation.metrics['top5'],
             'count': int(evaluation.metrics['count'])}
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
  figures.save(confusion_matrix_figure(config, names, matrix, metrics),
               os.path.join(output, 'confusion_matrix.png'))
  print(f'top-1 {metrics["top1"]:.2%}  top-5 {metrics["top5"]:.2%}  over '
        f'{metrics["count"]} test images')
  print('Most confused (true -> predicted: count):')
  for t, p, count in pairs[:num_pairs]:
    print(f'  {names[t]} -> {names[p]}: {count}')
  return metrics


def run(args: argparse.Namespace) -> int:
  config = load_run_config(args.workdir)
  # Runs saved before config.eval_tta existed were evaluated without augmentation.
  config.eval_tta = args.tta or config.get('eval_tta', 'none')
  if config.eval_tta not in MODES:
    raise UsageError(f'--tta must be one of {", ".join(MODES)}, got {args.tta!r}.')
  evaluation = training.evaluate_checkpoint(config, args.workdir)
  write_report(config, data.load_info(config.data).class_names, evaluation,
               args.output or os.path.join(args.workdir, 'evaluation'))
  return 0
