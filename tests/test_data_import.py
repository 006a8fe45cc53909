"""The data package stays behind its own import: cnl_jax alone never loads TensorFlow."""

import pathlib
import subprocess
import sys


def test_importing_cnl_jax_does_not_import_tensorflow():
  code = ('import sys, cnl_jax; '
          'assert "tensorflow" not in sys.modules, "cnl_jax imported tensorflow"')
  subprocess.run([sys.executable, '-c', code], check=True,
                 cwd=pathlib.Path(__file__).resolve().parents[1])

