"""The inspection tools' figures, drawn with matplotlib: a labelled grid of pictures and a
labelled confusion matrix.

The tools decide what a figure shows (a `Grid`, or the matrix and its names); this module
only draws it, and returns the matplotlib figure, so tests can check the labels without
reading pixels. Figures are drawn without pyplot: no backend or global state is touched.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import cm, colors
from matplotlib.figure import Figure

# The heatmap colours, from zero to a map's maximum (`heat_colours`, the grids' colour bar).
COLOUR_MAP = 'inferno'
# Class names tick the confusion matrix up to this many classes; past it, every n-th index.
MAX_NAMED_CLASSES = 40
_TILE_INCHES = 2.2
_DPI = 150
# Error cells start this far up the red scale: one mistake must not look white.
ERROR_SHADE_FLOOR = 0.3
_ERROR_COLOURS = colors.ListedColormap(
    matplotlib.colormaps['Reds'](np.linspace(ERROR_SHADE_FLOOR, 1, 256)), name='errors')
# Column titles wrap at this many characters, about a tile's width at 9 pt.
_TITLE_CHARACTERS = 30
# The grid's title wraps at this many characters per column (11 pt), plus the colour bar's room.
_SUPTITLE_CHARACTERS = 25


def heat_colours(values: np.ndarray) -> np.ndarray:
  """`COLOUR_MAP`'s colours [..., 3] (0..255, float) of values in [0, 1]."""
  return 255 * matplotlib.colormaps[COLOUR_MAP](np.clip(values, 0, 1))[..., :3]


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


def grid_figure(grid: Grid) -> Figure:
  """`grid` drawn: one axis per tile (row-major), then the colour bar's axis if any."""
  num_rows, num_columns = len(grid.rows), len(grid.column_titles)
  for label, tiles in grid.rows:
    if len(tiles) != num_columns:
      raise ValueError(f'Row {label!r} has {len(tiles)} tiles for {num_columns} columns.')
  bar_inches = 1.0 if grid.colour_bar else 0
  figure = Figure(figsize=(_TILE_INCHES * num_columns + bar_inches,
                           _TILE_INCHES * num_rows + 0.7), layout='constrained')
  axes = figure.subplots(num_rows, num_columns, squeeze=False)
  for row, (label, tiles) in enumerate(grid.rows):
    for column, tile in enumerate(tiles):
      axis = axes[row, column]
      axis.imshow(tile)
      axis.set_xticks([])
      axis.set_yticks([])
      if row == 0:
        axis.set_title(textwrap.fill(grid.column_titles[column], _TITLE_CHARACTERS), fontsize=9)
    axes[row, 0].set_ylabel(label, fontsize=9)
  figure.suptitle(textwrap.fill(grid.title, _SUPTITLE_CHARACTERS * num_columns + 10), fontsize=11)
  if grid.colour_bar:
    bar = figure.colorbar(cm.ScalarMappable(colors.Normalize(0, 1), COLOUR_MAP),
                          ax=axes, shrink=min(1.0, 0.9 / num_rows + 0.3), aspect=25)
    bar.set_label(grid.colour_bar, fontsize=9)
  return figure


def class_ticks(class_names: Sequence[str]) -> tuple[list[int], list[str]]:
  """(positions, labels) for a confusion-matrix axis: every class by name up to
  `MAX_NAMED_CLASSES`, else at most that many indices (every n-th class)."""
  count = len(class_names)
  if count <= MAX_NAMED_CLASSES:
    return list(range(count)), list(class_names)
  positions = list(range(0, count, -(-count // MAX_NAMED_CLASSES)))
  return positions, [str(position) for position in positions]


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str], title: str
                            ) -> Figure:
  """Counts [true class, predicted class] as fractions of each true class's images: correct
  predictions (the diagonal) in blue, errors in red, zero white. Every error cell is at least
  `ERROR_SHADE_FLOOR` of the red scale, so a single mistake among many correct images still
  shows; counts are printed in the non-zero cells while every class is named."""
  fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  diagonal = np.eye(len(matrix), dtype=bool)
  correct = np.ma.masked_where(~diagonal | (matrix == 0), fractions)
  errors = np.ma.masked_where(diagonal | (matrix == 0), fractions)
  positions, labels = class_ticks(class_names)
  named = len(labels) == len(class_names)
  longest = max(map(len, labels), default=1)
  side = min(14.0, max(5.0, 0.2 * len(positions) + 3.0))
  label_inches = min(3.0, 0.07 * longest)
  figure = Figure(figsize=(side + label_inches + 2.2, side + label_inches),
                  layout='constrained')
  axis = figure.subplots()
  axis.set_facecolor('white')
  blue = axis.imshow(correct, cmap='Blues', vmin=0, vmax=1, interpolation='nearest')
  worst_error = float(errors.max()) if errors.count() else 1.0
  red = axis.imshow(errors, cmap=_ERROR_COLOURS, vmin=0, vmax=worst_error,
                    interpolation='nearest')
  font = 8 if len(positions) <= 20 else 6
  if named:
    for true, predicted in zip(*np.nonzero(matrix)):
      shade = fractions[true, predicted] / (1 if true == predicted else worst_error)
      axis.text(predicted, true, str(matrix[true, predicted]), ha='center', va='center',
                fontsize=font, color='white' if shade > 0.5 else 'black')
  axis.set_xticks(positions, labels, rotation=90, fontsize=font)
  axis.set_yticks(positions, labels, fontsize=font)
  suffix = '' if named else ' (index)'
  axis.set_xlabel(f'predicted class{suffix}')
  axis.set_ylabel(f'true class{suffix}')
  axis.set_title(title)
  figure.colorbar(blue, ax=axis, shrink=0.6, pad=0.01).set_label(
      'correct: fraction of the true class')
  figure.colorbar(red, ax=axis, shrink=0.6, pad=0.01).set_label(
      'errors: fraction of the true class')
  return figure


def save(figure: Figure, path: str) -> None:
  """Writes `figure` to the PNG file at `path`."""
  figure.savefig(path, dpi=_DPI)
