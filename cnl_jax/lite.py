"""Top-k classes of image files with an exported model, without JAX or TensorFlow.

Usage: python -m cnl_jax.lite predict MODEL.tflite|MODEL.onnx runs/demo/samples/ [--top-k 5]
                              [--json] [--threads N]

Needs NumPy, Pillow and the model's runtime: `ai-edge-litert` (LiteRT) for .tflite,
`onnxruntime` for .onnx. The metadata JSON that `python -m cnl_jax.export` writes beside the
model (its name with .json added) holds the class names and the eval transform, so the model, its
JSON and this file are all an app needs: the file imports nothing else from cnl_jax and runs
on its own (`python lite.py predict ...`).

The transform is the training code's eval transform (cnl_jax.data.pipeline.eval_image)
written in NumPy: the centre window that resize-then-crop keeps, a bilinear resize of it to
image_size (antialiased when it shrinks, as tf.image.resize does), then (x / 255 - mean) / std
with the run's mean and std (0-1 scale).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from PIL import Image

METADATA_SUFFIX = '.json'


class UnreadableImageError(ValueError):
  """A file that is missing or not an image Pillow can decode."""


def metadata_path(model_path: str) -> str:
  """The metadata JSON that belongs to `model_path`: its name with .json added."""
  return model_path + METADATA_SUFFIX


def load_metadata(model_path: str) -> dict[str, Any]:
  """The metadata written beside `model_path` by the exporter."""
  path = metadata_path(model_path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} does not exist: keep the .json that cnl_jax.export '
                            f'wrote beside {model_path}.')
  with open(path, encoding='utf-8') as file:
    return json.load(file)


def crop_window(height: int, width: int, image_size: int, eval_resize: int,
                resize_mode: str) -> tuple[int, int, int, int]:
  """(top, left, height, width) of the part of an image that resizing to `eval_resize` and
  center-cropping `image_size` keeps; the arithmetic (float32, round half to even) is the
  eval transform's."""
  shape = np.array([height, width], np.int64)
  extent = shape if resize_mode == 'square' else shape.min()
  window = np.round(np.float32(extent) * np.float32(image_size) / np.float32(eval_resize))
  window = np.minimum(shape, window.astype(np.int64))
  top, left = (shape - window) // 2
  return int(top), int(left), int(window[0]), int(window[1])


def resize_weights(in_size: int, out_size: int, antialias: bool) -> np.ndarray:
  """Bilinear weights [out_size, in_size] with half-pixel centres, each row summing to 1.

  The triangle kernel, stretched by the shrink factor when `antialias` (tf.image.resize's
  scale-and-translate kernel); pixels outside the image are left out and the rest
  renormalised, which is the edge clamp of plain bilinear resizing.
  """
  scale = np.float32(in_size) / np.float32(out_size)
  kernel_scale = max(np.float32(1), scale) if antialias else np.float32(1)
  centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
  pixels = np.arange(in_size, dtype=np.float32) + np.float32(0.5)
  weights = np.maximum(0, 1 - np.abs(pixels[None] - centres[:, None]) / kernel_scale)
  return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def eval_transform(pixels: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
  """RGB pixels [height, width, 3] (uint8) -> the model's input [size, size, 3] float32."""
  size = preprocessing['image_size']
  top, left, height, width = crop_window(*pixels.shape[:2], size, preprocessing['eval_resize'],
                                         preprocessing['resize_mode'])
  window = pixels[top:top + height, left:left + width].astype(np.float32)
  antialias = height > size or width > size  # as the eval transform: both axes or neither
  rows = resize_weights(height, size, antialias)
  cols = resize_weights(width, size, antialias)
  image = np.einsum('yh,hwc,xw->yxc', rows, window, cols, optimize=True)
  std = np.array(preprocessing['std_rgb'], np.float32)
  mean = np.array(preprocessing['mean_rgb'], np.float32)
  return image * (np.float32(1) / (255 * std)) - mean / std  # the pipeline's multiply-add


def read_eval_image(path: str, preprocessing: dict[str, Any]) -> np.ndarray:
  """The image file at `path` as the exported model takes it: [size, size, 3] float32."""
  try:
    with Image.open(path) as image:
      pixels = np.asarray(image.convert('RGB'))
  except (OSError, ValueError) as error:
    raise UnreadableImageError(f'{path}: not a readable image ({error}).') from error
  return eval_transform(pixels, preprocessing)


def image_paths(targets: Sequence[str]) -> list[str]:
  """Files named in `targets`, each folder replaced by its non-hidden files in sorted order;
  a file named twice (alone and through its folder) is listed once, where it came first."""
  paths = {}
  for target in targets:
    if os.path.isdir(target):
      for name in sorted(os.listdir(target)):
        path = os.path.join(target, name)
        if not name.startswith('.') and os.path.isfile(path):
          paths.setdefault(os.path.realpath(path), path)
    else:
      paths.setdefault(os.path.realpath(target), target)
  return list(paths.values())


def _litert_runner(model_path: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  interpreter = Interpreter(model_path=model_path, num_threads=threads)
  interpreter.allocate_tensors()
  source = interpreter.get_input_details()[0]['index']
  target = interpreter.get_output_details()[0]['index']

  def run(images: np.ndarray) -> np.ndarray:
    interpreter.set_tensor(source, images)
    interpreter.invoke()
    return interpreter.get_tensor(target)
  return run


def _onnxruntime_runner(model_path: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
  import onnxruntime  # pylint: disable=import-outside-toplevel
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  options.inter_op_num_threads = 1
  session = onnxruntime.InferenceSession(model_path, options,
                                         providers=['CPUExecutionProvider'])
  source = session.get_inputs()[0].name
  return lambda images: session.run(None, {source: images})[0]


RUNTIMES = {'.tflite': _litert_runner, '.onnx': _onnxruntime_runner}


class ExportedModel:
  """An exported model file with its metadata: eval-transformed images -> logits."""

  def __init__(self, model_path: str, threads: int | None = None):
    extension = os.path.splitext(model_path)[1]
    if extension not in RUNTIMES:
      raise ValueError(f'{model_path} is neither a .tflite nor an .onnx file.')
    if not os.path.isfile(model_path):
      raise FileNotFoundError(f'{model_path} does not exist.')
    self.metadata = load_metadata(model_path)
    self.class_names: list[str] = self.metadata['class_names']
    self.batch_size: int = self.metadata['input']['shape'][0]
    self._run = RUNTIMES[extension](model_path, threads or os.cpu_count() or 1)

  def read_eval_image(self, path: str) -> np.ndarray:
    """The image file at `path` through the model's eval transform: [size, size, 3]."""
    return read_eval_image(path, self.metadata['preprocessing'])

  def logits(self, images: np.ndarray) -> np.ndarray:
    """Logits [count, num_classes] of eval-transformed images [count, size, size, 3], run in
    the model's fixed batch size (the last batch padded)."""
    outputs = []
    for start in range(0, len(images), self.batch_size):
      batch = images[start:start + self.batch_size]
      padded = np.zeros((self.batch_size, *images.shape[1:]), np.float32)
      padded[:len(batch)] = batch
      outputs.append(np.asarray(self._run(padded), np.float32)[:len(batch)])
    return np.concatenate(outputs) if outputs else np.zeros((0, len(self.class_names)))


def top_k(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """(labels, probabilities), each [count, k]: the `k` most probable classes of each row of
  `logits` [count, num_classes] by softmax, most probable first (ties in index order).

  The one softmax and top-k of the tools (predict, visualize, evaluate, this predictor).
  """
  logits = np.asarray(logits, np.float32)
  probabilities = np.exp(logits - logits.max(-1, keepdims=True))
  probabilities /= probabilities.sum(-1, keepdims=True)
  labels = np.argsort(-probabilities, axis=-1, kind='stable')[:, :k]
  return labels, np.take_along_axis(probabilities, labels, axis=-1)


class Classifier(Protocol):
  """What `predict_files` needs of a model: an exported one, or a trained run's."""
  class_names: Sequence[str]

  def read_eval_image(self, path: str) -> np.ndarray: ...

  def logits(self, images: np.ndarray) -> np.ndarray: ...


def predict_files(model: Classifier, paths: Sequence[str], top_k_count: int = 5
                  ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
  """(predictions, errors): per readable file its `top_k_count` classes and probabilities,
  and per unreadable file the reason."""
  images, readable, errors = [], [], []
  for path in paths:
    try:
      images.append(model.read_eval_image(path))
      readable.append(path)
    except UnreadableImageError as error:
      errors.append({'file': path, 'error': str(error)})
  if not images:
    return [], errors
  labels, probabilities = top_k(model.logits(np.stack(images)),
                                min(top_k_count, len(model.class_names)))
  return [{'file': path, 'top_k': [
      {'label': int(label), 'class': model.class_names[label], 'probability': float(p)}
      for label, p in zip(row_labels, row_probabilities)]}
          for path, row_labels, row_probabilities in zip(readable, labels, probabilities)], errors


def report(predictions: list[dict[str, Any]], errors: list[dict[str, str]],
           as_json: bool) -> int:
  """Prints the predictions (a table, or one JSON object) and the skipped files; returns the
  exit status: 1 when no image could be read."""
  if as_json:
    print(json.dumps({'predictions': predictions, 'errors': errors}, indent=2))
  else:
    for prediction in predictions:
      print(prediction['file'])
      for rank, entry in enumerate(prediction['top_k'], 1):
        print(f'  {rank}. {entry["probability"]:7.2%}  {entry["class"]}')
    for error in errors:
      print(f'skipped {error["error"]}', file=sys.stderr)
  return 0 if predictions else 1


class _OneLineParser(argparse.ArgumentParser):
  """Reports a bad command line in one line, without the usage block."""

  def error(self, message: str):
    self.exit(2, f'{self.prog}: {message}\n')


def main(argv: Sequence[str] | None = None) -> int:
  parser = _OneLineParser(prog='cnl_jax.lite', description=__doc__.split('\n\n', maxsplit=1)[0])
  commands = parser.add_subparsers(dest='command', required=True)
  predict = commands.add_parser('predict', help='Top-k classes of image files.')
  predict.add_argument('model', help='An exported .tflite or .onnx file (its .json beside it).')
  predict.add_argument('images', nargs='+', help='Image files or folders of them.')
  predict.add_argument('--top-k', type=int, default=5, help='Classes to list per image.')
  predict.add_argument('--json', action='store_true', help='Print one JSON object.')
  predict.add_argument('--threads', type=int, default=None,
                       help='CPU threads of the runtime (default: all cores).')
  args = parser.parse_args(argv)
  if args.top_k < 1:
    parser.error(f'--top-k must be at least 1, got {args.top_k}.')
  if args.threads is not None and args.threads < 1:
    parser.error(f'--threads must be at least 1, got {args.threads}.')
  try:
    model = ExportedModel(args.model, args.threads)
  except (OSError, ValueError, KeyError) as error:
    parser.exit(1, f'{parser.prog}: {error}\n')
  predictions, errors = predict_files(model, image_paths(args.images), args.top_k)
  return report(predictions, errors, args.json)

if __name__ == '__main__':
  sys.exit(main())
