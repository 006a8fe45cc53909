"""The figures' labels, read from the matplotlib figures (not from pixels)."""

import numpy as np
import pytest
from PIL import Image

from cnl_jax import figures


def _tile(value):
  return np.full((8, 8, 3), value, np.uint8)


def test_grid_heads_columns_labels_rows_and_has_a_labelled_colour_bar(tmp_path):
  grid = figures.Grid('predicted: wren (80%)', ('input', 'CNL response res3_1'),
                      (('query (1, 2)', (_tile(0), _tile(50))),
                       ('query (3, 4)', (_tile(100), _tile(150)))), 'attention / maximum')
  figure = figures.grid_figure(grid)
  *tiles, bar = figure.axes
  assert [axis.get_title() for axis in tiles] == ['input', 'CNL response res3_1', '', '']
  assert [tiles[0].get_ylabel(), tiles[2].get_ylabel()] == ['query (1, 2)', 'query (3, 4)']
  assert bar.get_ylabel() == 'attention / maximum'
  assert figure.get_suptitle() == 'predicted: wren (80%)'
  figures.save(figure, str(tmp_path / 'grid.png'))
  with Image.open(tmp_path / 'grid.png') as image:
    assert image.format == 'PNG' and image.width > image.height


def test_a_grid_without_heatmaps_has_no_colour_bar_and_rows_must_fill_the_columns():
  assert len(figures.grid_figure(figures.Grid('t', ('a',), (('', (_tile(0),)),))).axes) == 1
  with pytest.raises(ValueError, match='1 tiles for 2 columns'):
    figures.grid_figure(figures.Grid('t', ('a', 'b'), (('row', (_tile(0),)),)))


@pytest.mark.parametrize('count', [3, 40, 41, 200])
def test_confusion_matrix_names_classes_up_to_40_and_indexes_them_past(count):
  names = [f'class {i}' for i in range(count)]
  matrix = np.diag(np.arange(1, count + 1))
  figure = figures.confusion_matrix_figure(matrix, names, 'test split: top-1 100.0%')
  axis, *bars = figure.axes
  labels = [label.get_text() for label in axis.get_xticklabels()]
  assert labels == [label.get_text() for label in axis.get_yticklabels()]
  if count <= figures.MAX_NAMED_CLASSES:
    assert labels == names and axis.get_xlabel() == 'predicted class'
  else:
    assert 20 <= len(labels) <= figures.MAX_NAMED_CLASSES and labels[0] == '0'
    assert list(axis.get_xticks()) == [int(label) for label in labels]
    assert axis.get_ylabel() == 'true class (index)'
  assert axis.get_title() == 'test split: top-1 100.0%'
  assert [bar.get_ylabel() for bar in bars] == ['correct: fraction of the true class',
                                                'errors: fraction of the true class']


def test_confusion_matrix_shows_every_error_and_prints_the_counts():
  """One mistake among 99 correct images is clearly red (not white), the diagonal is the
  fraction of the class right, and every non-zero cell carries its count."""
  matrix = np.array([[99, 1, 0], [0, 50, 0], [25, 0, 25]])
  axis, *_ = figures.confusion_matrix_figure(matrix, ['a', 'b', 'c'], 'title').axes
  correct, errors = axis.images
  np.testing.assert_allclose(correct.get_array().filled(0), np.diag([0.99, 1.0, 0.5]))
  error_mask = ~errors.get_array().mask
  np.testing.assert_array_equal(error_mask, (matrix > 0) & ~np.eye(3, dtype=bool))
  faintest = errors.to_rgba(errors.get_array()[0, 1])
  white = np.ones(3)
  assert np.linalg.norm(np.asarray(faintest[:3]) - white) > 0.3
  assert faintest[0] > faintest[2]  # red, not blue
  printed = sorted((round(text.get_position()[1]), round(text.get_position()[0]), text.get_text())
                   for text in axis.texts)
  assert printed == [(0, 0, '99'), (0, 1, '1'), (1, 1, '50'), (2, 0, '25'), (2, 2, '25')]
