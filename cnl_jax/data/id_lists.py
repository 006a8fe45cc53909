"""The `<id> <value>` list files of CUB, NABirds and FGVC-Aircraft, read and cross-checked."""

from __future__ import annotations

from collections.abc import Sequence

from cnl_jax.data.files import FileTree
from cnl_jax.data.info import DatasetError


def read_list(text: str, where: str) -> dict[str, str]:
  """{id: rest of the line} of a list file, in file order. The value keeps its inner spaces
  (class names such as 'Boeing 707-320'). `where` names the file in the error for an id
  listed twice, which would otherwise silently drop a row."""
  rows = {}
  for line in text.splitlines():
    if not line.strip():
      continue
    key, *value = line.split(maxsplit=1)
    if key in rows:
      raise DatasetError(f'{where} lists {key!r} twice; re-download the archive.')
    rows[key] = value[0].strip() if value else ''
  return rows


def read_lists(tree: FileTree, names: Sequence[str]) -> dict[str, dict[str, str]]:
  """Each named list file of `tree` as read_list gives it; an archive is streamed once."""
  return {name: read_list(data.decode(), tree.describe(name))
          for name, data in tree.iter_files(names)}


def same_ids(tree: FileTree, lists: dict[str, dict[str, str]], names: Sequence[str]
             ) -> list[str]:
  """The ids of the first of `names`, in its order, after checking that every other one lists
  exactly those ids (each file describes every image once)."""
  ids = list(lists[names[0]])
  for name in names[1:]:
    if sorted(lists[name]) != sorted(ids):
      raise DatasetError(f'{tree.describe(name)} does not list the same image ids as '
                         f'{tree.describe(names[0])}; re-download the archive.')
  return ids
