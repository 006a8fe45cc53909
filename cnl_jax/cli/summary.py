"""`cnl-jax summary --model NAME [--num-classes 200] [--image-size 448] [--graph test|train]`:
parameter and MAC counts of a model, under the paper's convention and XLA's (cnl_jax.summary).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from cnl_jax.cli.parsers import UsageError
from cnl_jax.summary import PAPER_TABLE_2, ModelSummary, summarize


def format_summary(summary: ModelSummary, compare_paper: bool) -> str:
  height, width = summary.image_size
  settings = ''.join(f', {key}={value!r}' for key, value in summary.overrides.items())
  lines = [
      f'{summary.model} ({summary.num_classes} classes, {height}x{width} input, '
      f'{summary.graph} graph{settings})',
      f'  trainable parameters      {summary.params:>16,}',
      f'  MACs, paper convention    {summary.macs_paper:>16,}  (conv + fc)',
      f'  MACs, attention products  {summary.macs_attention:>16,}',
      f'  FLOPs, XLA estimate       {summary.xla_flops:>16,.0f}',
  ]
  if compare_paper:
    if summary.model not in PAPER_TABLE_2:
      lines.append(f'  (the paper reports no figures for {summary.model})')
    else:
      row = PAPER_TABLE_2[summary.model]
      lines += [
          '  paper, Table 2 (200 classes, 448x448), as printed:',
          f'    "#param (x10^7)"        {row.printed_params:>16}   ours '
          f'{summary.params / 1e7:.3f}',
          f'    "Flops (x10^9)"         {row.printed_flops:>16}   ours '
          f'{summary.macs_paper / 1e10:.3f} (conv + fc MACs / 1e10)',
          '  reconstructed from the released code (not printed in the paper):',
          f'    parameters              {row.params:>16,}   ours {summary.params - row.params:+,}',
          f'    conv + fc MACs          {row.macs:>16,.0f}   ours '
          f'{100 * (summary.macs_paper / row.macs - 1):+.3f}%',
      ]
      if (summary.num_classes, summary.image_size) != (200, (448, 448)):
        lines.append('    (compare at --num-classes 200 --image-size 448)')
  return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
  if len(args.image_size) not in (1, 2):
    raise UsageError('--image-size takes one side or height and width.')
  image_size = args.image_size * (3 - len(args.image_size))
  try:
    summary = summarize(args.model, args.num_classes, image_size, args.graph,
                        dict(args.override))
  except (ValueError, TypeError) as error:  # an unknown preset, or no such model attribute
    raise UsageError(str(error)) from error
  print(json.dumps(dataclasses.asdict(summary)) if args.json
        else format_summary(summary, args.compare_paper))
  return 0
