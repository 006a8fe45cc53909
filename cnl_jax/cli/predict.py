"""`cnl-jax predict --workdir RUN RUN/samples/ [--top-k 5] [--json]`: top-k classes of
image files under a trained run.

Each image goes through the evaluation transform (short side resized, center crop). Files
that cannot be read are reported on stderr (or under "errors" with --json) and skipped;
the exit status is 1 when no image could be read.
"""

from __future__ import annotations

import argparse

from cnl_jax.lite import image_paths, predict_files, report
from cnl_jax.trained_run import load_run


def run(args: argparse.Namespace) -> int:
  trained = load_run(args.workdir)
  predictions, errors = predict_files(trained, image_paths(args.images), args.top_k)
  return report(predictions, errors, args.json)
