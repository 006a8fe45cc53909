"""Offline deployment: a trained run's eval-mode prediction as a LiteRT (.tflite) or ONNX file.

`cnl-jax export --workdir RUN` (or `python -m cnl_jax.export`) writes the model and a metadata
JSON beside it (class names, eval transform, exported head); `cnl_jax.lite` runs the pair
without JAX or TensorFlow. Modules: `source` (what a run exports: the only one that imports the training
code), `graph` (the traced function), `tflite` and `onnx` (the converters), `metadata`,
`exporter` (files on disk); the command line is cnl_jax/cli/export.py.
"""

FORMATS = ('tflite', 'onnx')
QUANTIZATIONS = ('none', 'float16', 'int8')
