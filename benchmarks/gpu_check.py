"""The GPU path in one command: the GPU tests, then the training-throughput table, as one JSON.

Made for one call of a lent GPU machine (about 8 minutes on an H200; see BENCHMARKS.md,
"GPU check"): (1) `pytest -m gpu tests/test_gpu.py`; (2) train and eval images/s, compile
time, memory and utilisation of the bf16 peak (`benchmarks/train_throughput.py`'s timing) for
the plan below, most wanted first, with torchvision's ResNet-50 (bf16 autocast, channels-last)
beside it when torch is importable; rows that would start after `--budget-minutes` are listed
as skipped; (3) one JSON under $OUT (or `--output`), and the table into `--update FILE`.
`--dry-run` runs the same stages at tiny sizes on the CPU (tests/test_gpu_check.py).

  PYTHONPATH=. python benchmarks/gpu_check.py --update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax

from benchmarks import train_throughput
from benchmarks.input_pipeline import command_line, machine, update_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
NUM_CLASSES = 200


@dataclasses.dataclass(frozen=True)
class Row:
  """One measurement of the plan: a preset at a dtype, batch and image size."""
  model: str
  dtype: str
  batch_size: int
  image_size: int
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


# NL and CNL attention through 'auto': cuDNN where it takes the shape, XLA elsewhere.
_FAST_ATTENTION = {'attention_implementation': 'auto'}


def gpu_plan() -> list[Row]:
  """The 448 px table, most wanted first: bf16 batch 32 (the ResNets, then ViT-B/16 and
  Swin-B; TransFG at 16), then batch 64, float32, TASN, RMG."""
  backbones = [('resnet50', {}), ('resnet50_5nl', _FAST_ATTENTION),
               ('resnet50_5cnl', _FAST_ATTENTION)]
  rows = [Row(name, dtype, batch, 448, overrides)
          for dtype, batch in [('bfloat16', 32), ('bfloat16', 64), ('float32', 32),
                               ('float32', 64)]
          for name, overrides in backbones]
  # Transformers on XLA's attention: whether cuDNN takes Swin's biased 49-token windows and
  # ViT's 785 tokens ('auto') is not yet measured.
  transformers = [Row(name, 'bfloat16', 32, 448)
                  for name in ('vit_base_patch16', 'swin_base_patch4_window7')]
  # TransFG at the released per-GPU batch of 16: its 1,370 overlapping tokens keep 11
  # float32 maps of about 90 MB an image for the selection and the backward pass.
  transformers.append(Row('transfg_vit_base_patch16', 'bfloat16', 16, 448))
  return (rows[:3] + transformers + rows[3:]
          + [Row('tasn_resnet50', 'bfloat16', 32, 512),
             Row('rmg_pmsi_mobilenetv2', 'bfloat16', 32, 448)])


def dry_run_plan() -> list[Row]:
  """The same stages on a tiny CNL network, small enough for a CPU test."""
  tiny = {'width': 8, 'cnl_inner_features': 16, **_FAST_ATTENTION}
  return [Row('resnet18_2cnl', dtype, 2, 32, tiny) for dtype in ('float32', 'bfloat16')]


def run_gpu_tests() -> dict[str, Any]:
  """`pytest -m gpu` in a child process (its own JAX, freed before the timings)."""
  start = time.perf_counter()
  process = subprocess.run(
      # addopts cleared: no xdist workers, and one quiet level, so the last line counts.
      [sys.executable, '-m', 'pytest', '-m', 'gpu', '-o', 'addopts=', '-q',
       '-p', 'no:cacheprovider', str(ROOT / 'tests' / 'test_gpu.py')],
      cwd=ROOT, capture_output=True, text=True, check=False)
  lines = (process.stdout + process.stderr).strip().splitlines()
  # pytest's summary is its stdout's last line; stderr may end with a library's log line.
  summary = process.stdout.strip().splitlines()[-1:] or ['']
  return {'returncode': process.returncode, 'seconds': time.perf_counter() - start,
          'summary': summary[0], 'output_tail': '\n'.join(lines[-40:])}


def measure(plan: Sequence[Row], *, warmup: int, steps: int, budget_seconds: float,
            torch_sizes: Sequence[tuple[str, int, int]]
            ) -> tuple[list[train_throughput.Result], list[Row]]:
  """Times each row while the budget lasts; returns (results, rows skipped for time)."""
  start = time.perf_counter()
  results, skipped = [], []
  torch_rows = [Row('torchvision resnet50', *size) for size in torch_sizes]
  # torchvision right after our bf16 batch-32 rows: the comparison the targets name.
  order = plan[:3] + torch_rows + plan[3:] if torch_rows else list(plan)
  for row in order:
    if time.perf_counter() - start > budget_seconds:
      skipped.append(row)
      continue
    if row in torch_rows:
      result = train_throughput.benchmark_torch_resnet50(
          num_classes=NUM_CLASSES, image_size=row.image_size, batch_size=row.batch_size,
          dtype=row.dtype, warmup=warmup, steps_timed=steps)
    else:
      result = train_throughput.benchmark_model(
          row.model, num_classes=NUM_CLASSES, image_size=row.image_size,
          batch_size=row.batch_size, dtype=row.dtype, warmup=warmup, steps_timed=steps,
          **row.overrides)
    print(train_throughput.table([result], None).splitlines()[-1], flush=True)
    results.append(result)
  return results, skipped


def _torch_sizes(dry_run: bool) -> list[tuple[str, int, int]]:
  """(dtype, batch, size) rows of torchvision's ResNet-50, none where torch is missing."""
  try:
    import torch
    import torchvision  # noqa: F401
  except ImportError:
    return []
  if dry_run or not torch.cuda.is_available():
    return [('float32', 2, 32)]
  return [('bfloat16', 32, 448), ('bfloat16', 64, 448)]


def section(report: dict[str, Any], results: Sequence[train_throughput.Result],
            peak_flops: float | None) -> str:
  """The Markdown section `--update` writes: the tests' outcome and the table."""
  tests = report['gpu_tests']
  skipped = ''.join(f'\n- skipped for time: {row["model"]}, {row["dtype"]}, batch '
                    f'{row["batch_size"]}, {row["image_size"]} px'
                    for row in report['skipped'])
  return ('## GPU check results\n\n'
          f'`{report["command"]}`\n\n'
          f'Machine: {report["machine"]}; jax {report["jax"]}, {report["device"]}. '
          f'`pytest -m gpu`: {tests["summary"]} (exit {tests["returncode"]}). Timing as in '
          'the training-throughput section (one synthetic batch on the device, '
          f'{report["steps"]} single steps after {report["warmup"]} warm-ups); NL and CNL '
          "attention 'auto'.\n\n"
          + train_throughput.table(results, peak_flops) + skipped)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--dry-run', action='store_true',
                      help='tiny sizes on the CPU: checks the script, measures nothing')
  parser.add_argument('--output', type=pathlib.Path,
                      help='JSON file to write (default: $OUT/gpu_check.json)')
  parser.add_argument('--update', type=pathlib.Path, help='Markdown file to write the table to')
  parser.add_argument('--budget-minutes', type=float, default=5.0,
                      help='no new row starts after this long in the timing stage')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--steps', type=int, default=5, help='timed steps per row')
  parser.add_argument('--skip-tests', action='store_true', help='timings only')
  args = parser.parse_args(argv)
  output = args.output or (pathlib.Path(os.environ['OUT']) / 'gpu_check.json'
                           if 'OUT' in os.environ else None)
  if output is None:
    parser.error('give --output FILE or set $OUT')
  # The tests' process runs first: once this one starts JAX on a GPU, it holds 75% of its
  # memory (JAX's default preallocation) until it exits.
  tests = ({'returncode': None, 'seconds': 0.0, 'summary': 'not run', 'output_tail': ''}
           if args.skip_tests else run_gpu_tests())
  print('pytest -m gpu:', tests['summary'], flush=True)
  if not args.dry_run and jax.default_backend() != 'gpu':
    parser.error(f'no GPU here (JAX backend {jax.default_backend()!r}); use --dry-run')

  device = jax.devices()[0]
  report: dict[str, Any] = {
      'command': command_line(), 'machine': machine(), 'jax': jax.__version__,
      'device': f'{jax.device_count()} x {device.device_kind} ({device.platform})',
      'dry_run': args.dry_run, 'warmup': args.warmup, 'steps': args.steps, 'gpu_tests': tests}

  plan = dry_run_plan() if args.dry_run else gpu_plan()
  results, skipped = measure(plan, warmup=args.warmup, steps=args.steps,
                             budget_seconds=60 * args.budget_minutes,
                             torch_sizes=_torch_sizes(args.dry_run))
  peak_flops = train_throughput.DEVICE_PEAK_FLOPS.get(device.device_kind)
  report.update(peak_flops=peak_flops, results=[dataclasses.asdict(r) for r in results],
                skipped=[dataclasses.asdict(row) for row in skipped])
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(report, indent=1))
  markdown = section(report, results, peak_flops)
  print(markdown)
  if args.update:
    update_section(args.update, markdown)
  return 0 if report['gpu_tests']['returncode'] in (0, None) else 1


if __name__ == '__main__':
  sys.exit(main())
