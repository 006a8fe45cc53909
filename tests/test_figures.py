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
  axis, bar = figure.axes
  labels = [label.get_text() for label in axis.get_xticklabels()]
  assert labels == [label.get_text() for label in axis.get_yticklabels()]
  if count <= figures.MAX_NAMED_CLASSES:
    assert labels == names and axis.get_xlabel() == 'predicted class'
  else:
    assert 20 <= len(labels) <= figures.MAX_NAMED_CLASSES and labels[0] == '0'
    assert list(axis.get_xticks()) == [int(label) for label in labels]
    assert axis.get_ylabel() == 'true class (index)'
  assert axis.get_title() == 'test split: top-1 100.0%' and bar.get_ylabel()
  np.testing.assert_allclose(axis.images[0].get_array(), np.eye(count))  # rows scaled
