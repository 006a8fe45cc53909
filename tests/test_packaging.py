"""cnl_jax installs like a library: the wheel declares pyproject.toml's dependencies and the
`cnl-jax` command, and `import cnl_jax` works with the core dependencies alone (no TensorFlow);
the `full` extra is everything else."""

import configparser
import email.parser
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
with open(ROOT / 'pyproject.toml', 'rb') as _file:
  PROJECT = tomllib.load(_file)['project']
# The environment with only the core dependencies, which .ci/run builds and names here.
CORE_PYTHON = 'CNL_JAX_CORE_PYTHON'

def _requirements(texts: list[str]) -> list[Requirement]:
  return [Requirement(text) for text in texts]


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> pathlib.Path:
  """The wheel `pip install` builds from a clean copy of the package (a clone, a git URL)."""
  source = tmp_path_factory.mktemp('source')
  shutil.copy(ROOT / 'pyproject.toml', source)
  shutil.copytree(ROOT / 'cnl_jax', source / 'cnl_jax',
                  ignore=shutil.ignore_patterns('__pycache__'))
  out = tmp_path_factory.mktemp('wheel')
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w', str(out),
                  str(source)], check=True)
  [path] = out.glob('*.whl')
  return path


def _key(requirement: Requirement, extra: str | None) -> tuple:
  return (canonicalize_name(requirement.name), frozenset(requirement.extras),
          requirement.specifier, extra)


def test_wheel_metadata_lists_the_declared_dependencies(wheel):
  with zipfile.ZipFile(wheel) as archive:
    [metadata_path] = [n for n in archive.namelist() if n.endswith('.dist-info/METADATA')]
    metadata = email.parser.Parser().parsestr(archive.read(metadata_path).decode())
    packages = {os.path.dirname(n) for n in archive.namelist() if n.endswith('/__init__.py')}
    [entry_points] = [archive.read(n).decode() for n in archive.namelist()
                      if n.endswith('.dist-info/entry_points.txt')]

  declared = [_key(r, None) for r in _requirements(PROJECT['dependencies'])]
  for extra, texts in PROJECT['optional-dependencies'].items():
    declared += [_key(r, extra) for r in _requirements(texts)]
  listed = []
  for requirement in _requirements(metadata.get_all('Requires-Dist')):
    extra = re.fullmatch(r'extra == "(.+)"', str(requirement.marker)) if requirement.marker else None
    requirement.marker = None
    listed.append(_key(requirement, extra and extra.group(1)))
  assert sorted(listed, key=repr) == sorted(declared, key=repr)
  assert set(metadata.get_all('Provides-Extra')) == set(PROJECT['optional-dependencies'])
  assert set(PROJECT['optional-dependencies']) == {'full', 'test', 'cuda'}
  assert {canonicalize_name(r.name) for r in _requirements(PROJECT['dependencies'])} == {
      'jax', 'flax', 'numpy', 'optax', 'ml-collections'}
  # Every package of the source tree is in the wheel, and the command.
  assert packages == {str(p.parent.relative_to(ROOT)) for p in (ROOT / 'cnl_jax').rglob(
      '__init__.py')}
  scripts = configparser.ConfigParser()
  scripts.read_string(entry_points)
  assert dict(scripts['console_scripts']) == {'cnl-jax': 'cnl_jax.cli.harness:main'}


def test_each_version_is_decided_in_one_place():
  everything = _requirements(PROJECT['dependencies'])
  for texts in PROJECT['optional-dependencies'].values():
    everything += _requirements(texts)
  with_versions = [canonicalize_name(r.name) for r in everything if r.specifier]
  assert len(with_versions) == len(set(with_versions)), 'a distribution has two ranges'
  # The cuda extra takes the core's jax range: no second one for jax[cuda12].
  assert [str(r) for r in _requirements(PROJECT['optional-dependencies']['cuda'])] == [
      'jax[cuda12]']
  # The requirement files are aliases of extras, with no versions of their own.
  for path, extra in (('requirements.txt', 'full'), ('requirements-test.txt', 'test')):
    lines = [line.strip() for line in (ROOT / path).read_text().splitlines()]
    assert [line for line in lines if line and not line.startswith('#')] == [f'-e .[{extra}]']


def test_the_core_imports_without_tensorflow():
  """`import cnl_jax`, its blocks, presets and `cnl_jax.summary` never load TensorFlow."""
  script = ('import sys\n'
            'sys.modules["tensorflow"] = None\n'
            'import cnl_jax, cnl_jax.summary\n'
            'model = cnl_jax.create_model("resnet18_2cnl", num_classes=10, width=8)\n'
            'print(cnl_jax.CNL.__name__, type(model).__name__)\n')
  result = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split()[0] == 'CNL'


def test_the_models_work_with_only_the_core_dependencies(wheel, tmp_path):
  python = os.environ.get(CORE_PYTHON)
  if python is None:
    pytest.skip(f'{CORE_PYTHON} is unset: .ci/run builds the core-only environment')
  site = tmp_path / 'site'
  subprocess.run([python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', '--target',
                  str(site), str(wheel)], check=True)
  script = f'''
import importlib.util
import jax
import jax.numpy as jnp
import numpy as np
import cnl_jax
import cnl_jax.summary

assert cnl_jax.__file__.startswith({str(site)!r}), cnl_jax.__file__  # the wheel's copy
extra = [m for m in ('tensorflow', 'tensorboardX', 'PIL', 'safetensors')
         if importlib.util.find_spec(m)]
assert extra == [], f'not a core-only environment: {{extra}}'

query, responses = jnp.ones((2, 4, 4, 16)), [jnp.ones((2, 8, 8, 8)), jnp.ones((2, 2, 2, 32))]
block = cnl_jax.CNL(inner_features=8)
variables = block.init(jax.random.key(0), query, responses)
np.testing.assert_allclose(block.apply(variables, query, responses), query)  # identity at init
model = cnl_jax.create_model('resnet18_2cnl', num_classes=10, width=8)
shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
print(sorted(shapes))
'''
  result = subprocess.run([python, '-c', script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': str(site), 'JAX_PLATFORMS': 'cpu'})
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "['batch_stats', 'params']"
