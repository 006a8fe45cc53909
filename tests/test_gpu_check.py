"""benchmarks/gpu_check.py at tiny sizes on the CPU, with TensorFlow made unimportable.

The GPU machine has no TensorFlow: the model, the train step, the GPU tests and the benchmark
must run without it, and the one-call script must not rot between GPU runs.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Runs gpu_check.main with `import tensorflow` failing, as on a machine without it.
_WITHOUT_TENSORFLOW = """
import sys
sys.modules['tensorflow'] = None
from benchmarks import gpu_check
code = gpu_check.main(sys.argv[1:])
assert not [m for m in sys.modules if m.startswith('tensorflow') and sys.modules[m]]
sys.exit(code)
"""


def test_dry_run_measures_every_stage_without_tensorflow(tmp_path: pathlib.Path):
  report_file = tmp_path / 'BENCHMARKS.md'
  report_file.write_text('# Benchmarks\n\n## GPU check\n\nkept\n')
  output = tmp_path / 'gpu_check.json'
  env = {**os.environ, 'PYTHONPATH': str(ROOT), 'JAX_PLATFORMS': 'cpu'}
  process = subprocess.run(
      [sys.executable, '-c', _WITHOUT_TENSORFLOW, '--dry-run', '--output', str(output),
       '--update', str(report_file), '--warmup', '1', '--steps', '1'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  report = json.loads(output.read_text())
  assert report['dry_run'] and report['gpu_tests']['returncode'] == 0
  # Every gpu test passes on a GPU and is skipped elsewhere; none fails.
  summary = report['gpu_tests']['summary']
  assert re.search(r'\d+ (passed|skipped)', summary), summary
  assert not re.search(r'failed|error', summary), summary
  ours = [r for r in report['results'] if not r['model'].startswith('torchvision')]
  assert {r['dtype'] for r in ours} == {'float32', 'bfloat16'}
  assert all(min(r['train_rates']) > 0 and r['train_flops_per_image'] > 0 for r in ours)
  text = report_file.read_text()
  assert '## GPU check\n\nkept' in text and text.count('## GPU check results') == 1
  assert '| resnet18_2cnl | bfloat16 | 2 | 32 |' in text
