"""The shipped configs: they load without the library's heavy dependencies, build their model,
and a CNL config trains what the released code trains."""

import importlib
import json
import pathlib
import subprocess
import sys

import pytest

from cnl_jax.methods import build_method
from cnl_jax.models import ResNet

CONFIG_DIR = pathlib.Path(__file__).parents[1] / 'configs'
CONFIGS = sorted(path.stem for path in CONFIG_DIR.glob('*.py') if path.stem != '__init__')

# Loads every config file as `config_flags` does (by path) and prints the heavy modules then
# imported.
LOAD_EVERY_CONFIG = '''
import json, pathlib, runpy, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob('*.py')):
  namespace = runpy.run_path(str(path))
  if 'get_config' in namespace:
    namespace['get_config']()
print(json.dumps(sorted(name for name in ('tensorflow', 'jax', 'flax', 'cnl_jax')
                        if name in sys.modules)))
'''


def test_loading_a_config_imports_neither_tensorflow_nor_jax():
  """A config is ml_collections and the standard library, so a misspelt field fails fast."""
  root = CONFIG_DIR.parent
  child = subprocess.run([sys.executable, '-c', LOAD_EVERY_CONFIG, str(CONFIG_DIR)],
                         capture_output=True, text=True, check=True, cwd=root,
                         env={'PYTHONPATH': str(root), 'PATH': ''})
  assert json.loads(child.stdout) == []


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_its_cnl_is_the_released_one(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  model = build_method(config, num_classes=10).model
  if isinstance(model, ResNet) and model.cnl is not None:
    # Every figure of the paper came from the released code's reshape; the embedded demo
    # trains the paper's equation (configs/demo.py says why).
    assert model.cnl_reshape == ('paper' if name == 'demo' else 'released')
