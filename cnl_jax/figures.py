"""The inspection tools' figures, drawn with matplotlib: a labelled grid of pictures and a
labelled confusion matrix.

The tools decide what a figure shows (`Grid`, the matrix and its names); this module only
draws it, so tests can check the content without reading pixels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import matplotlib

matplotlib.use('Agg')  # files only: no display, and the same output on every machine

# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors

# The heatmap colours, from zero to a map's maximum; `visualize.overlay` draws with them.
COLOUR_MAP = 'inferno'
# Class names tick the confusion matrix up to this many classes; past it, every n-th index.
MAX_NAMED_CLASSES = 40
_TILE_INCHES = 2.2
_DPI = 150


@dataclasses.dataclass(frozen=True)
class Grid:
  """Pictures in rows and columns, each column headed, each row labelled.

  Attributes:
    title: above the grid (e.g. the predicted class).
    column_titles: one per column.
    rows: (row label, tiles); each tile uint8 [height, width, 3], one per column.
    colour_bar: the label of the heatmap colour scale (0 to each map's maximum), or None
      when no tile is a heatmap.
  """
  title: str
  column_titles: tuple[str, ...]
  rows: tuple[tuple[str, tuple[np.ndarray, ...]], ...]
  colour_bar: str | None = None


def save_grid(grid: Grid, path: str) -> None:
  """Draws `grid` to the PNG file at `path`."""
  num_rows, num_columns = len(grid.rows), len(grid.column_titles)
  for label, tiles in grid.rows:
    if len(tiles) != num_columns:
      raise ValueError(f'Row {label!r} has {len(tiles)} tiles for {num_columns} columns.')
  bar_inches = 0.9 if grid.colour_bar else 0
  figure, axes = plt.subplots(
      num_rows, num_columns, squeeze=False, layout='constrained',
      figsize=(_TILE_INCHES * num_columns + bar_inches, _TILE_INCHES * num_rows + 0.6))
  for row, (label, tiles) in enumerate(grid.rows):
    for column, tile in enumerate(tiles):
      axis = axes[row, column]
      axis.imshow(tile)
      axis.set_xticks([])
      axis.set_yticks([])
      if row == 0:
        axis.set_title(grid.column_titles[column], fontsize=9, wrap=True)
    axes[row, 0].set_ylabel(label, fontsize=9)
  figure.suptitle(grid.title, fontsize=11)
  if grid.colour_bar:
    bar = figure.colorbar(cm.ScalarMappable(colors.Normalize(0, 1), COLOUR_MAP),
                          ax=axes, shrink=min(1.0, 0.9 / num_rows + 0.3), aspect=25)
    bar.set_label(grid.colour_bar, fontsize=9)
  figure.savefig(path, dpi=_DPI)
  plt.close(figure)


def class_ticks(class_names: Sequence[str]) -> tuple[list[int], list[str]]:
  """(positions, labels) for a confusion-matrix axis: every class by name up to
  `MAX_NAMED_CLASSES`, else about that many indices (every n-th class)."""
  count = len(class_names)
  if count <= MAX_NAMED_CLASSES:
    return list(range(count)), list(class_names)
  step = -(-count // MAX_NAMED_CLASSES)
  positions = list(range(0, count, step))
  return positions, [str(position) for position in positions]


def save_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], title: str,
                          path: str) -> None:
  """Draws counts [true class, predicted class] to the PNG at `path`, each row scaled to
  its largest count (the colour bar: share of the row's maximum), classes ticked by name
  (by index past `MAX_NAMED_CLASSES`)."""
  scaled = matrix / np.maximum(matrix.max(axis=1, keepdims=True), 1)
  positions, labels = class_ticks(class_names)
  named = len(labels) == len(class_names)
  longest = max((len(label) for label in labels), default=1) if named else 3
  side = min(14.0, max(5.0, 0.2 * len(positions) + 3.0))
  label_inches = min(3.0, 0.07 * longest)
  figure, axis = plt.subplots(figsize=(side + label_inches + 1.2, side + label_inches),
                              layout='constrained')
  image = axis.imshow(scaled, cmap='Blues', vmin=0, vmax=1, interpolation='nearest')
  font = 8 if len(positions) <= 20 else 6
  axis.set_xticks(positions, labels, rotation=90, fontsize=font)
  axis.set_yticks(positions, labels, fontsize=font)
  axis.set_xlabel('predicted class' if named else 'predicted class (index)')
  axis.set_ylabel('true class' if named else 'true class (index)')
  axis.set_title(title)
  bar = figure.colorbar(image, ax=axis, shrink=0.8)
  bar.set_label("count / the row's largest count")
  figure.savefig(path, dpi=_DPI)
  plt.close(figure)
