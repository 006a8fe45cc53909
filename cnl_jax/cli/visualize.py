"""`cnl-jax visualize --workdir RUN --image RUN/samples/0.jpg [--query ROW,COL ...]
[--output DIR]`: attention and class activation maps of a trained run over an image, and its
method's panels.

A query is a pixel (row, column) of the model's input: the image after the evaluation
transform (short side resized, center crop), `image_size` px square. Each attention map
(CNL: one per response layer; NL: one per block's self-attention) is read at the query
grid cell holding that pixel, scaled to its own maximum, upsampled bilinearly to the
image and overlaid on it. Without --query, five queries are shown: the center and the
centers of the four quarters, a fixed choice that is comparable between images and runs.

Writes `<layer>_q<row>_<col>.png` per map and query (e.g. `cnl_response_res3_1_q32_32.png`),
each titled with its layer, query and the predicted class, with the colour scale; and
`grid.png`: one row per query, the image with the query marked (a ring) followed by each map
in module order, each column headed (the input, each CNL response layer or NL block).

A method may show pictures of its own (`Method.panels`: heatmaps over the image, or images
it derives, e.g. a sampling map and the image sampled from it); a model without attention
maps then writes those, one PNG each, and `grid.png`: the image and every panel. A model
with neither (ResNet, ViT or Swin without CNL or NL) gets only its class activation maps.

Beside either, the class activation maps (Grad-CAM: `cnl_jax.grad_cam`) of every head the
method explains (`Method.cam_targets`: the last convolutional stage, or each head's own
feature map), upsampled bilinearly over the image the head sees: `cam_<head>.png` each, the
head as users know it (`Method.head_titles`: `cam_classifier.png` for one-head models) and
its predicted class, and `cams.png`: the input and every head's map.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from cnl_jax import figures
from cnl_jax.data.config import augmentation
from cnl_jax.data.image_files import to_pixels
from cnl_jax.cli.parsers import UsageError
from cnl_jax.errors import UserError
from cnl_jax.lite import top_k
from cnl_jax.trained_run import TrainedRun, load_run

# Maps are shown at least this large (the demo's 64 px inputs would be hard to see).
MIN_DISPLAY_SIZE = 256
_OVERLAY_OPACITY = 0.6


def default_queries(image_size: int) -> list[tuple[int, int]]:
  """The center and the centers of the four quarters of the input image."""
  quarter, half = image_size // 4, image_size // 2
  return [(half, half), (quarter, quarter), (quarter, image_size - quarter),
          (image_size - quarter, quarter), (image_size - quarter, image_size - quarter)]


def parse_query(text: str, image_size: int) -> tuple[int, int]:
  """'ROW,COL' -> (row, col), checked to lie inside the `image_size` px input."""
  try:
    row, col = (int(part) for part in text.split(','))
  except ValueError as error:
    raise UsageError(f'--query takes ROW,COL in pixels, got {text!r}.') from error
  if not (0 <= row < image_size and 0 <= col < image_size):
    raise UsageError(f'--query {text} lies outside the {image_size} x {image_size} px input '
                     f'(rows and columns 0..{image_size - 1}).')
  return row, col


def _side(positions: int, name: str) -> int:
  """The side of a square grid of `positions` cells (inputs are square crops)."""
  side = math.isqrt(positions)
  if side * side != positions:
    raise ValueError(f'{name} has {positions} positions, not a square grid.')
  return side


def attention_at(weights: np.ndarray, query: tuple[int, int], image_size: int, name: str
                 ) -> np.ndarray:
  """One image's map [query positions, key positions] at the query pixel -> [side, side]."""
  query_side = _side(weights.shape[0], f'The queries of {name}')
  key_side = _side(weights.shape[1], f'The keys of {name}')
  row, col = (coordinate * query_side // image_size for coordinate in query)
  return weights[row * query_side + col].reshape(key_side, key_side)


def overlay(pixels: np.ndarray, attention: np.ndarray) -> Image.Image:
  """uint8 [size, size, 3] image with a map [side, side] scaled to its maximum, upsampled
  bilinearly and coloured (`figures.COLOUR_MAP`) on top."""
  size = pixels.shape[0]
  scaled = attention / max(float(attention.max()), np.finfo(np.float32).tiny)
  upsampled = np.asarray(Image.fromarray(scaled.astype(np.float32), mode='F').resize(
      (size, size), Image.Resampling.BILINEAR))
  blended = (1 - _OVERLAY_OPACITY) * pixels + _OVERLAY_OPACITY * figures.heat_colours(upsampled)
  return Image.fromarray(np.round(blended).astype(np.uint8))


def mark(image: Image.Image, query: tuple[int, int], image_size: int) -> Image.Image:
  """A copy of `image` with a ring around the query pixel (given in input pixels)."""
  marked = image.copy()
  scale = image.width / image_size
  row, col = ((coordinate + 0.5) * scale for coordinate in query)
  radius = max(4, image.width // 40)
  draw = ImageDraw.Draw(marked)
  for colour, width in (('black', 4), ('cyan', 2)):
    draw.ellipse((col - radius, row - radius, col + radius, row + radius), outline=colour,
                 width=width)
  return marked


def _shown(run: TrainedRun, array: np.ndarray) -> np.ndarray:
  """A normalised image [height, width, 3] as uint8 pixels, at least `MIN_DISPLAY_SIZE`."""
  size = max(run.config.image_size, MIN_DISPLAY_SIZE)
  return np.asarray(Image.fromarray(to_pixels(array, augmentation(run.config.data))).resize(
      (size, size), Image.Resampling.BILINEAR))


def prediction_title(run: TrainedRun, image: np.ndarray) -> str:
  """The reported head's predicted class of one image [size, size, 3] and its probability."""
  (predicted,), (probability,) = top_k(run.logits(image[None]), 1)
  return f'predicted: {run.class_names[predicted[0]]} ({probability[0]:.0%})'


def file_stem(title: str) -> str:
  """A title as a file name: 'CNL response res3_1' -> 'cnl_response_res3_1'."""
  return re.sub(r'[^a-z0-9_]+', '_', title.lower()).strip('_')


def attention_figures(run: TrainedRun, image: np.ndarray, queries: Sequence[tuple[int, int]]
                      ) -> dict[str, figures.Grid]:
  """Each attention map at each query over one image [size, size, 3], by file name
  (`<layer>_q<row>_<col>`, the layer as the grid names it), and `grid`: a row per query, the
  input with the query ringed, then the maps. Each is titled with the predicted class and has
  the colour scale."""
  image_size = run.config.image_size
  maps = {name: weights[0] for name, weights in run.attention_maps(image[None]).items()}
  if not maps:
    raise UserError(f'Model {run.config.model!r} has no attention maps (neither CNL nor '
                    'NL).')
  pixels = _shown(run, image)
  titles = {name: run.method.attention_titles().get(name, name) for name in maps}
  prediction = prediction_title(run, image)
  bar = "attention / the map's maximum"
  grids, rows = {}, []
  for query in queries:
    label = f'query ({query[0]}, {query[1]})'
    row = [np.asarray(mark(Image.fromarray(pixels), query, image_size))]
    for name, weights in maps.items():
      tile = np.asarray(mark(overlay(pixels, attention_at(weights, query, image_size, name)),
                             query, image_size))
      grids[f'{file_stem(titles[name])}_q{query[0]}_{query[1]}'] = figures.Grid(
          prediction, (titles[name],), ((label, (tile,)),), bar)
      row.append(tile)
    rows.append((label, tuple(row)))
  grids['grid'] = figures.Grid(prediction, ('input', *titles.values()), tuple(rows), bar)
  return grids


def panel_figures(run: TrainedRun, image: np.ndarray
                  ) -> tuple[dict[str, Image.Image], figures.Grid]:
  """The method's panels of one image [size, size, 3] (heatmaps over it), by name, and
  their grid: the input, then every panel."""
  pixels = _shown(run, image)
  panels = run.panels(image)
  tiles = {name: overlay(pixels, panel.values) if panel.kind == 'heatmap'
           else Image.fromarray(_shown(run, panel.values)) for name, panel in panels.items()}
  heatmaps = any(panel.kind == 'heatmap' for panel in panels.values())
  grid = figures.Grid(prediction_title(run, image), ('input', *tiles),
                      (('', (pixels, *map(np.asarray, tiles.values()))),),
                      'heatmap / its maximum' if heatmaps else None)
  return tiles, grid


def cam_figures(run: TrainedRun, image: np.ndarray) -> dict[str, figures.Grid]:
  """Grad-CAM of each head the method explains over one image [size, size, 3] (or over
  the panel the head sees), by file name: `cam_<head>` each, and `cams`: the input, then
  every head's map, each headed with the head's predicted class."""
  pixels = _shown(run, image)
  panels = run.panels(image)
  bar = "Grad-CAM / the map's maximum"
  grids, tiles, titles = {}, [], []
  for cam in run.class_activation_maps(image):
    head, over = cam.target.head, cam.target.over
    under = pixels if over is None else _shown(run, panels[over].values)
    tile = np.asarray(overlay(under, cam.values))
    prediction = f'{run.class_names[cam.predicted]} ({cam.probability:.0%})'
    title = run.method.head_titles.get(head, head)
    grids[f'cam_{file_stem(title)}'] = figures.Grid(
        f'Grad-CAM, {title}', (f'predicted: {prediction}',),
        ((f'over {over or "input"}', (tile,)),), bar)
    tiles.append(tile)
    titles.append(f'{title}: {prediction}')
  if grids:
    grids['cams'] = figures.Grid(prediction_title(run, image), ('input', *titles),
                                 (('Grad-CAM', (pixels, *tiles)),), bar)
  return grids


def _write(output: str, images: dict[str, Image.Image], grids: dict[str, figures.Grid]
           ) -> list[str]:
  """Saves `<name>.png` of every image, then of every grid, in `output`; returns the paths."""
  os.makedirs(output, exist_ok=True)
  paths = []
  for name, image in images.items():
    paths.append(os.path.join(output, f'{name}.png'))
    image.save(paths[-1])
  for name, grid in grids.items():
    paths.append(os.path.join(output, f'{name}.png'))
    figures.save(figures.grid_figure(grid), paths[-1])
  return paths


def visualize(run: TrainedRun, image_path: str, queries: Sequence[tuple[int, int]],
              output: str) -> list[str]:
  """Writes the attention PNGs of the image file at `image_path` (see the module docstring);
  returns their paths, `grid.png` last."""
  return _write(output, {}, attention_figures(run, run.read_eval_image(image_path), queries))


def visualize_panels(run: TrainedRun, image: np.ndarray, output: str) -> list[str]:
  """Writes the method's panels of `image` (see the module docstring); returns their paths,
  `grid.png` last."""
  tiles, grid = panel_figures(run, image)
  return _write(output, tiles, {'grid': grid})


def visualize_cams(run: TrainedRun, image: np.ndarray, output: str) -> list[str]:
  """Writes the class activation maps of `image` (see the module docstring); returns their
  paths, `cams.png` last ([] when the method explains no head)."""
  return _write(output, {}, cam_figures(run, image))


def write_figures(run: TrainedRun, image_path: str,
                  queries: Sequence[tuple[int, int]] | None, output: str) -> list[str]:
  """Every figure of the image file at `image_path` (see the module docstring): the attention
  maps at `queries` (None: `default_queries`) where the model has any, else the method's
  panels, then the Grad-CAM of each head it explains; returns their paths. A plain model
  (ResNet, ViT, Swin without CNL or NL) gets its Grad-CAM alone."""
  image = run.read_eval_image(image_path)
  if run.attention_maps(image[None]):
    queries = queries or default_queries(run.config.image_size)
    paths = _write(output, {}, attention_figures(run, image, queries))
  elif queries:
    raise UsageError(f'--query does not apply to {run.config.model!r}: it has no attention '
                     'maps (neither CNL nor NL) to read at a query.')
  else:
    paths = visualize_panels(run, image, output) if run.panels(image) else []
  paths += visualize_cams(run, image, output)
  if not paths:
    raise UserError(f'Model {run.config.model!r} has no attention maps, no panels and no '
                    'head Grad-CAM explains: nothing to draw.')
  return paths


def run(args: argparse.Namespace) -> int:
  trained = load_run(args.workdir)
  size = trained.config.image_size
  queries = [parse_query(text, size) for text in args.query] if args.query else None
  output = args.output or os.path.join(args.workdir, 'attention')
  print('\n'.join(write_figures(trained, args.image, queries, output)))
  return 0
