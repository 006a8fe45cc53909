"""The Colab notebook runs top to bottom on the demo settings."""

import os

import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'notebooks', 'cnl_jax_colab.ipynb')


def test_notebook_runs_on_the_demo(tmp_path, monkeypatch):
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  parameters = [cell for cell in notebook.cells if cell.source.startswith('# Parameters')]
  assert len(parameters) == 1
  workdir = tmp_path / 'run'
  parameters[0].source = (f"CONFIG = 'demo'\nNUM_EPOCHS = 1\nWORKDIR = {str(workdir)!r}\n"
                          'MANUAL_DIR = None')
  monkeypatch.setenv('HOME', str(tmp_path))  # the synthetic set's cache, under ~/.cache
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  monkeypatch.setenv('PYTHONPATH', ROOT)
  nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': ROOT}}).execute()

  outputs = [output for cell in notebook.cells if cell.cell_type == 'code'
             for output in cell.get('outputs', [])]
  assert not [output for output in outputs if output.output_type == 'error']
  images = [output for output in outputs if 'image/png' in output.get('data', {})]
  assert len(images) == 2  # the training curve and the attention grid
  assert (workdir / 'attention' / 'grid.png').exists()
  text = ''.join(output.get('text', '') for output in outputs)
  assert 'true class:' in text and '%' in text
