"""The JSON written beside an exported model: everything an app needs to use it."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from cnl_jax.export.source import ExportSource
from cnl_jax.export.tflite import INPUT_NAME

VERSION = 1


def metadata(source: ExportSource, model_file: str, file_format: str, quantize: str,
             batch_size: int) -> dict[str, Any]:
  """The fields cnl_jax.lite reads ('input', 'preprocessing', 'class_names') and a record of
  what was exported from where."""
  size = source.preprocessing.image_size
  return {
      'version': VERSION,
      'model_file': model_file,
      'format': file_format,
      'quantize': quantize,
      'model': source.model,
      'head': source.head,
      'input': {'name': INPUT_NAME, 'shape': [batch_size, size, size, 3], 'dtype': 'float32',
                'layout': 'NHWC, RGB, the eval transform below'},
      'output': {'shape': [batch_size, len(source.class_names)], 'dtype': 'float32',
                 'meaning': f'logits of the {source.head!r} head (softmax for probabilities)'},
      'preprocessing': {**dataclasses.asdict(source.preprocessing),
                        'pixels': '0-255 RGB; resize bilinear, antialiased when shrinking'},
      'class_names': list(source.class_names),
      'trained': {'step': source.step, 'model_overrides': source.config.model_overrides.to_dict(),
                  'dataset': source.config.data.name},
      'exported': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
  }


def write_metadata(path: str, fields: dict[str, Any]) -> None:
  with open(path, 'w', encoding='utf-8') as file:
    json.dump(fields, file, indent=2)
    file.write('\n')
