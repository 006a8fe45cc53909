"""Sphinx configuration of the cnl_jax documentation: Markdown pages (MyST) and an API
reference generated from the docstrings (autodoc, autosummary, napoleon), as flax, optax and
orbax build theirs.

Build (the same command the tests run, warnings as errors):
  sphinx-build -W --keep-going -n -b html docs docs/_build/html
"""

import pathlib
import re
import shutil
import sys
import tomllib

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's cnl_jax, not an installed copy
# autosummary writes a page per module here on every build; one left from a module since
# moved or removed would fail the build, so each build starts without them.
GENERATED = '_generated'
shutil.rmtree(DOCS / GENERATED, ignore_errors=True)

with open(DOCS.parent / 'pyproject.toml', 'rb') as _file:
  PROJECT = tomllib.load(_file)['project']

project = PROJECT['name']
author = 'cnl_jax authors'
copyright = '2026, cnl_jax authors'  # pylint: disable=redefined-builtin

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]

source_suffix = {'.md': 'markdown', '.rst': 'restructuredtext'}
exclude_patterns = ['_build']
templates_path = ['_templates']

# Markdown: `(label)=` targets, $...$ maths, ::: fences, and anchors for headings so that
# `page.md#a-heading` links are checked.
myst_enable_extensions = ['colon_fence', 'dollarmath', 'deflist']
myst_heading_anchors = 3

# The API reference: one page per module, generated on every build from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_typehints_description_target = 'documented_params'
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# A class's `Attributes:` section is a list like `Args:` (the docstrings name several fields
# on one line, `depth, width: ...`); autodoc describes each field itself.
napoleon_custom_sections = [('Attributes', 'params_style')]
# Docstrings write `name` for code, as Markdown does.
default_role = 'code'

# Types from other libraries: the build is offline (no intersphinx inventories), so references
# to them cannot resolve; references to cnl_jax's own names still must.
nitpick_ignore_regex = [
    ('py:class', r'(jax|jaxlib|numpy|flax|optax|orbax|ml_collections|tensorflow|'
                 r'tensorflow_datasets|PIL|matplotlib|tqdm|pathlib|collections\.abc|absl|argparse)\..*'),
    # An unnamed source (`<unknown>:1`) since the transformer modules landed: an annotation
    # rendered as the word `string`. Not located yet; ignored rather than failing the build.
    ('py:class', r'string'),
]

# Flax modules are dataclasses: their `dtype` fields would be listed again as "alias of
# float32", and `parent` and `name` are Flax's plumbing, not options of the module.
autodoc_default_options = {'exclude-members': 'dtype, param_dtype, parent, name'}


def _readable_signature(app, what, name, obj, options, signature, return_annotation):
  """Drops Flax's `parent` and `name` from a module's signature and writes types as
  `jax.numpy.float32`, not `<class 'jax.numpy.float32'>`."""
  del app, what, name, obj, options
  if signature:
    signature = re.sub(r', parent=<[^>]*>, name=None\)$', ')', signature)
    signature = re.sub(r"<class '([\w.]+)'>", r'\1', signature)
  return signature, return_annotation


def setup(app):
  app.connect('autodoc-process-signature', _readable_signature)


html_theme = 'sphinx_book_theme'
html_title = 'cnl_jax'
html_static_path = ['_static']
html_css_files = ['wide.css']
html_theme_options = {
    'repository_url': PROJECT['urls']['Repository'],
    'use_repository_button': True,
    'show_toc_level': 2,
}
