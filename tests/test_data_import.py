"""The data package stays behind its own import: cnl_jax alone never loads TensorFlow."""

import subprocess
import sys


def test_importing_cnl_jax_does_not_import_tensorflow():
  code = ('import sys, cnl_jax; '
          'assert "tensorflow" not in sys.modules, "cnl_jax imported tensorflow"')
  subprocess.run([sys.executable, '-c', code], check=True)


def test_default_config_documents_every_field_it_sets():
  from cnl_jax.data import config
  source = open(config.__file__).read()
  for field in config.default_data_config():
    assert f'config.{field} =' in source
