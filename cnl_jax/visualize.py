"""Attention maps of a trained run overlaid on an image, and what its method shows besides.

Usage: python -m cnl_jax.visualize --workdir runs/demo --image bird.jpg \
    [--query ROW,COL ...] [--output runs/demo/attention]

A query is a pixel (row, column) of the model's input: the image after the evaluation
transform (short side resized, center crop), `image_size` px square. Each attention map
(CNL: one per response layer; NL: one per block's self-attention) is read at the query
grid cell holding that pixel, scaled to its own maximum, upsampled bilinearly to the
image and overlaid on it. Without --query, five queries are shown: the center and the
centers of the four quarters, a fixed choice that is comparable between images and runs.

Writes `<map>_q<row>_<col>.png` per map and query, and `grid.png`: one row per query, the
image with the query marked (a ring) followed by each map in module order.

A method may show pictures of its own (`Method.panels`: heatmaps over the image, or images
it derives, e.g. a sampling map and the image sampled from it); a model without attention
maps then writes those, one PNG each, and `grid.png`: the image and every panel.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from cnl_jax.data.config import augmentation
from cnl_jax.data.image_files import to_pixels
from cnl_jax.errors import UserError, exits_on_user_error
from cnl_jax.trained_run import TrainedRun, load_run, read_image

# Maps are shown at least this large (the demo's 64 px inputs would be hard to see).
MIN_DISPLAY_SIZE = 256
# Overlay colours from zero to the map's maximum attention (dark purple to light yellow).
_COLOURS = np.array([[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 255, 164]], np.float32)
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
    raise ValueError(f'--query takes ROW,COL in pixels, got {text!r}.') from error
  if not (0 <= row < image_size and 0 <= col < image_size):
    raise ValueError(f'--query {text} lies outside the {image_size} x {image_size} px input '
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
  """uint8 [size, size, 3] image with `attention` [side, side] upsampled and coloured on top."""
  size = pixels.shape[0]
  scaled = attention / max(float(attention.max()), np.finfo(np.float32).tiny)
  upsampled = np.asarray(Image.fromarray(scaled.astype(np.float32), mode='F').resize(
      (size, size), Image.Resampling.BILINEAR))
  position = np.clip(upsampled, 0, 1) * (len(_COLOURS) - 1)
  colours = np.stack([np.interp(position, np.arange(len(_COLOURS)), _COLOURS[:, channel])
                      for channel in range(3)], axis=-1)
  blended = (1 - _OVERLAY_OPACITY) * pixels + _OVERLAY_OPACITY * colours
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


def visualize(run: TrainedRun, image_path: str, queries: Sequence[tuple[int, int]],
              output: str) -> list[str]:
  """Writes the attention PNGs of the image file at `image_path` (see the module docstring);
  returns their paths."""
  image_size = run.config.image_size
  image = read_image(run, image_path)
  maps = {name: weights[0] for name, weights in run.attention_maps(image[None]).items()}
  if not maps:
    raise UserError(f'Model {run.config.model!r} has no attention maps (neither CNL nor NL) '
                    'and its method shows no panels.')
  size = max(image_size, MIN_DISPLAY_SIZE)
  pixels = np.asarray(Image.fromarray(to_pixels(image, augmentation(run.config.data))).resize(
      (size, size), Image.Resampling.BILINEAR))
  os.makedirs(output, exist_ok=True)
  grid = Image.new('RGB', (size * (1 + len(maps)), size * len(queries)))
  written = []
  for row, query in enumerate(queries):
    grid.paste(mark(Image.fromarray(pixels), query, image_size), (0, row * size))
    for column, (name, weights) in enumerate(maps.items(), 1):
      tile = mark(overlay(pixels, attention_at(weights, query, image_size, name)), query,
                  image_size)
      path = os.path.join(output, f'{name.replace("/", "_")}_q{query[0]}_{query[1]}.png')
      tile.save(path)
      written.append(path)
      grid.paste(tile, (column * size, row * size))
  grid_path = os.path.join(output, 'grid.png')
  grid.save(grid_path)
  return [*written, grid_path]


def visualize_panels(run: TrainedRun, image: np.ndarray, output: str) -> list[str]:
  """Writes the method's panels of `image` (see the module docstring); returns their paths."""
  size = max(run.config.image_size, MIN_DISPLAY_SIZE)
  transform = augmentation(run.config.data)
  shown = lambda array: Image.fromarray(to_pixels(array, transform)).resize(
      (size, size), Image.Resampling.BILINEAR)
  pixels = np.asarray(shown(image))
  panels = {name: overlay(pixels, panel.values) if panel.kind == 'heatmap'
            else shown(panel.values) for name, panel in run.panels(image).items()}
  os.makedirs(output, exist_ok=True)
  grid = Image.new('RGB', (size * (1 + len(panels)), size))
  grid.paste(Image.fromarray(pixels), (0, 0))
  written = []
  for column, (name, panel) in enumerate(panels.items(), 1):
    path = os.path.join(output, f'{name}.png')
    panel.save(path)
    written.append(path)
    grid.paste(panel, (column * size, 0))
  grid_path = os.path.join(output, 'grid.png')
  grid.save(grid_path)
  return [*written, grid_path]


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='The run\'s --workdir.')
  parser.add_argument('--image', required=True, help='An image file.')
  parser.add_argument('--query', action='append', metavar='ROW,COL',
                      help='A query pixel of the center-cropped input; repeat for more.')
  parser.add_argument('--output', help='Folder for the PNGs (default: WORKDIR/attention).')
  args = parser.parse_args(argv)
  run = load_run(args.workdir)
  output = args.output or os.path.join(args.workdir, 'attention')
  image = read_image(run, args.image)
  if not run.attention_maps(image[None]) and run.panels(image):
    if args.query:
      parser.error(f'--query does not apply to {run.config.model!r}: it has no attention '
                   'maps; its method shows panels, which have no query.')
    print('\n'.join(visualize_panels(run, image, output)))
    return 0
  try:
    queries = ([parse_query(text, run.config.image_size) for text in args.query]
               if args.query else default_queries(run.config.image_size))
  except ValueError as error:
    parser.error(str(error))
  print('\n'.join(visualize(run, args.image, queries, output)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
