"""Trains the demo over several seeds, one after another, and prints top-1, wall time, images/s.

The README quotes the mean and range of this table: the demo must land the same on any
machine, so one run is not a figure. Each seed is a fresh `python main.py` in its own
temporary workdir (or `--keep DIR`'s `seed<N>`, kept for the inspection tools); the
overrides after `--` go to every run.

  PYTHONPATH=. python benchmarks/demo_seeds.py --seeds 0 1 2 3 4 --output demo_seeds.json
  PYTHONPATH=. python benchmarks/demo_seeds.py --seeds 0 -- --config.num_epochs=2
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent


def run_seed(config: str, seed: int, overrides: list[str], keep: str | None
             ) -> dict[str, float]:
  """One training run: its final test top-1, wall seconds and median training images/s."""
  with tempfile.TemporaryDirectory() as temporary:
    workdir = pathlib.Path(keep, f'seed{seed}').resolve() if keep else temporary
    start = time.perf_counter()
    subprocess.run([sys.executable, 'main.py', '--config', config, '--workdir', workdir,
                    f'--config.seed={seed}', *overrides], cwd=REPOSITORY, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    lines = [json.loads(line) for line in
             pathlib.Path(workdir, 'metrics.jsonl').read_text().splitlines()]
  evals = [line for line in lines if line['split'] == 'eval']
  # The first log interval includes compilation; the median of the rest is the steady rate.
  rates = [line['images_per_sec'] for line in lines if line['split'] == 'train'][1:]
  return {'seed': seed, 'top1': evals[-1]['top1'], 'wall_s': wall,
          'images_per_sec': statistics.median(rates)}


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
  top1 = [row['top1'] for row in rows]
  return {'mean_top1': statistics.mean(top1), 'min_top1': min(top1), 'max_top1': max(top1),
          'spread_points': 100 * (max(top1) - min(top1)),
          'max_wall_s': max(row['wall_s'] for row in rows)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--config', default='configs/demo.py')
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
  parser.add_argument('--output', help='JSON file for the rows and their summary')
  parser.add_argument('--keep', metavar='DIR', help='train seed N into DIR/seedN and keep it')
  parser.add_argument('overrides', nargs='*', help='--config.field=value for every run')
  args = parser.parse_args()
  if args.keep and any(pathlib.Path(args.keep, f'seed{seed}').exists() for seed in args.seeds):
    parser.error(f'--keep {args.keep} already holds a seed<N> run of these seeds (it would '
                 'resume, not train): name an empty folder.')
  rows = []
  print(f'{"seed":>4}  {"top-1":>6}  {"wall":>7}  {"img/s":>6}', flush=True)
  for seed in args.seeds:
    row = run_seed(args.config, seed, args.overrides, args.keep)
    rows.append(row)
    print(f'{seed:>4}  {100 * row["top1"]:5.1f}%  {row["wall_s"]:6.0f}s  '
          f'{row["images_per_sec"]:6.0f}', flush=True)
  totals = summary(rows)
  print(f'mean {100 * totals["mean_top1"]:.1f}%, range {100 * totals["min_top1"]:.1f}-'
        f'{100 * totals["max_top1"]:.1f}% ({totals["spread_points"]:.1f} points), longest run '
        f'{totals["max_wall_s"]:.0f} s')
  if args.output:
    pathlib.Path(args.output).write_text(json.dumps(
        {'config': args.config, 'overrides': args.overrides, 'rows': rows, **totals}, indent=2))


if __name__ == '__main__':
  main()
