"""cnl_jax installs like a library: the wheel declares pyproject.toml's dependencies, each part
of the code imports only what its extra installs, and `import cnl_jax` works with the core
dependencies alone."""

import ast
import email.parser
import importlib.metadata
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
NAME = canonicalize_name(PROJECT['name'])
# The environment with only the core dependencies, which .ci/run builds and names here.
CORE_PYTHON = 'CNL_JAX_CORE_PYTHON'

# The extras each part of the library needs (docs/getting_started.md, "Install as a
# library"). The core is `import cnl_jax` and all that it imports; a module in no part needs
# `data`, the clone's full runtime.
PART_EXTRAS = {'cnl_jax.training': ('train',), 'cnl_jax.pretrained': ('train',),
               'cnl_jax.data': ('data',), 'cnl_jax.export': ('export',),
               'cnl_jax.lite': ('export',)}
OTHERS_EXTRAS = ('data',)
# Imported only for a file format its users bring (.pth weights, torchvision's MobileNetV2).
OPTIONAL = {'torch'}
# Imported on use, inside the function that runs a file of that format: a module that borrows
# cnl_jax.lite's runtime-free helpers (cnl_jax.predict) does not need them.
ON_USE = {'cnl_jax.lite': {'ai_edge_litert', 'onnxruntime'}}


def _requirements(texts: list[str]) -> list[Requirement]:
  return [Requirement(text) for text in texts]


def _distributions(extras: tuple[str, ...]) -> set[str]:
  """The distributions that the core and `extras` install, cnl_jax's own extras expanded."""
  names, pending = set(), [*_requirements(PROJECT['dependencies']),
                           *(Requirement(f'{NAME}[{extra}]') for extra in extras)]
  while pending:
    requirement = pending.pop()
    if canonicalize_name(requirement.name) != NAME:
      names.add(canonicalize_name(requirement.name))
      continue
    for extra in requirement.extras:
      pending += _requirements(PROJECT['optional-dependencies'][extra])
  return names


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
  assert {'train', 'data', 'export', 'test', 'cuda'} <= set(PROJECT['optional-dependencies'])
  assert {canonicalize_name(r.name) for r in _requirements(PROJECT['dependencies'])} == {
      'jax', 'flax', 'numpy', 'optax', 'ml-collections'}
  # Every package of the source tree is in the wheel.
  assert packages == {str(p.parent.relative_to(ROOT)) for p in (ROOT / 'cnl_jax').rglob(
      '__init__.py')}


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
  for path, extra in (('requirements.txt', 'data'), ('requirements-test.txt', 'test'),
                      ('requirements-export.txt', 'export')):
    lines = [line.strip() for line in (ROOT / path).read_text().splitlines()]
    assert [line for line in lines if line and not line.startswith('#')] == [f'-e .[{extra}]']


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: pathlib.Path, modules: set[str]) -> tuple[set[str], set[str], set[str]]:
  """(cnl_jax modules imported at import time, third-party names imported at import time,
  third-party names imported anywhere) by the file at `path`."""
  tree = ast.parse(path.read_text(), str(path))
  at_import_time = {id(node) for node in tree.body}
  internal, third_party, anywhere = set(), set(), set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      # `from cnl_jax import data` imports the module cnl_jax.data.
      names = [f'{node.module}.{alias.name}' if f'{node.module}.{alias.name}' in modules
               else node.module for alias in node.names]
    else:
      continue
    for name in names:
      top = name.split('.')[0]
      if top == 'cnl_jax':
        if id(node) in at_import_time:
          # Importing a module imports the packages above it.
          parts = name.split('.')
          internal |= {'.'.join(parts[:i]) for i in range(1, len(parts) + 1)} & modules
      elif top not in sys.stdlib_module_names and top != '__future__':
        anywhere.add(top)
        if id(node) in at_import_time:
          third_party.add(top)
  return internal, third_party, anywhere


def test_each_part_imports_only_what_its_extra_installs():
  files = {_module_name(p): p for p in (ROOT / 'cnl_jax').rglob('*.py')}
  files['main'] = ROOT / 'main.py'
  imports = {name: _imports(path, set(files)) for name, path in files.items()}

  def closure(name: str) -> set[str]:
    """`name` and every cnl_jax module that importing it imports."""
    seen, pending = set(), [name]
    while pending:
      module = pending.pop()
      if module not in seen:
        seen.add(module)
        pending += imports[module][0]
    return seen

  def part_extras(name: str) -> tuple[str, ...]:
    if name == 'cnl_jax':
      return ()
    return next((extras for part, extras in PART_EXTRAS.items()
                 if name == part or name.startswith(part + '.')), OTHERS_EXTRAS)

  # A module is held to its own part's install, and to the smallest install of the parts that
  # import it at import time (there, less what it imports only on use).
  held_to = {name: {(part_extras(name), name)} for name in files}
  for name in files:
    for module in closure(name) - {name}:
      held_to[module].add((part_extras(name), name))
  distributions_of = importlib.metadata.packages_distributions()
  problems = []
  for name, holders in sorted(held_to.items()):
    smallest = min(holders, key=lambda holder: len(_distributions(holder[0])))
    for extras, part in {(part_extras(name), name), smallest}:
      allowed = _distributions(extras)
      on_use = ON_USE.get(name, set()) if part != name else set()
      for top in sorted(imports[name][2] - OPTIONAL - on_use):
        distributions = {canonicalize_name(d) for d in distributions_of.get(top, [])}
        if not distributions & allowed:
          problems.append(f'{files[name].relative_to(ROOT)} imports {top} (from '
                          f'{sorted(distributions) or "nothing installed"}); importing {part} '
                          f'imports that module, and {part} may need only the extras '
                          f'{extras or "(core only)"}')
  assert not problems, '\n'.join(problems)


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
