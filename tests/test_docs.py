"""The documentation site builds as CI builds it: warnings are errors, so a broken link, an
unresolved reference or a docstring that is not valid reStructuredText fails it."""

import os
import pkgutil
import re
import subprocess
import sys

import cnl_jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docs_build_without_warnings_and_document_every_module(tmp_path):
  html = tmp_path / 'html'
  command = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-n', '-q', '-b', 'html',
             os.path.join(ROOT, 'docs'), str(html)]
  build = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         check=False)
  assert build.returncode == 0, build.stderr[-6000:]

  modules = {'cnl_jax'} | {
      module.name for module in pkgutil.walk_packages(cnl_jax.__path__, 'cnl_jax.')
      if not module.name.endswith('__main__')}
  documented = {page.stem for page in (html / '_generated').glob('cnl_jax*.html')}
  assert modules <= documented, f'modules without an API page: {sorted(modules - documented)}'


def test_readme_links_point_at_files_that_exist():
  # The site does not build README.md (GitHub shows it), so its links are checked here.
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as file:
    targets = re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', file.read())
  local = [target for target in targets if '://' not in target]
  assert local, 'README links to no documentation page'
  missing = [target for target in local if not os.path.exists(os.path.join(ROOT, target))]
  assert not missing, f'README links to missing files: {missing}'
