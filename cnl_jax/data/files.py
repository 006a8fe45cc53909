"""Find a dataset's original files in manual_dir and read them from an extracted folder or
straight from its tar archive."""

from __future__ import annotations

import dataclasses
import glob
import pathlib
import tarfile
from collections.abc import Iterable, Iterator, Sequence

from absl import logging

from cnl_jax.data.info import DatasetError

# How many folder levels below manual_dir the searching finders look. Copies of a dataset nest
# its files differently (Kaggle's Stanford Cars: car_devkit/devkit/cars_meta.mat), and
# unpacking a download into a folder of its own adds one more level.
SEARCH_DEPTH = 3


@dataclasses.dataclass(frozen=True)
class FileTree:
  """Files under `root`, a folder or a tar archive (any compression) whose members start with
  `prefix/`. Paths are relative to that root, with forward slashes.

  Archives are streamed front to back, never seeked: a .tgz has no index, so each pass reads
  it once whatever the number of files wanted.
  """
  root: pathlib.Path
  prefix: str = ''

  @property
  def is_archive(self) -> bool:
    return self.root.is_file()

  def describe(self, path: str) -> str:
    """Where `path` lives, for error messages."""
    if self.is_archive:
      return f'{self.root}:{self._member(path)}'
    return str(self.root / path)

  def _member(self, path: str) -> str:
    return f'{self.prefix}/{path}' if self.prefix else path

  def read(self, path: str) -> bytes:
    """The bytes of one file; `DatasetError` naming it if absent."""
    (_, data), = self.iter_files([path])
    return data

  def iter_files(self, paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Yields (path, bytes) for every path, in storage order; raises naming any missing."""
    wanted = set(paths)
    if not self.is_archive:
      for path in sorted(wanted):
        try:
          yield path, (self.root / path).read_bytes()
        except OSError as error:
          raise DatasetError(f'Cannot read {self.describe(path)}: {error}') from error
      return
    by_member = {self._member(path): path for path in wanted}
    try:
      with tarfile.open(self.root, 'r|*') as archive:
        for member in archive:
          name = member.name.removeprefix('./')
          if member.isfile() and name in by_member:
            path = by_member.pop(name)
            yield path, archive.extractfile(member).read()
            if not by_member:
              return
    except (tarfile.TarError, OSError, EOFError) as error:
      raise DatasetError(f'Cannot read the archive {self.root}: {error}') from error
    if by_member:
      missing = sorted(by_member)
      raise DatasetError(f'{self.root} lacks {len(missing)} expected file(s), e.g. '
                         f'{", ".join(missing[:5])}. Re-download the archive.')


@dataclasses.dataclass(frozen=True)
class Layout:
  """One way a part of a dataset can sit in manual_dir: a folder (holding `marker` when one is
  given) or an archive whose members start with `prefix`."""
  folder: str | None = None
  archive: str | None = None
  prefix: str = ''
  marker: str | None = None

  def find(self, manual_dir: pathlib.Path) -> FileTree | None:
    if self.folder is not None:
      folder = manual_dir / self.folder
      if folder.is_dir() and (self.marker is None or (folder / self.marker).exists()):
        return FileTree(folder)
    if self.archive is not None and (manual_dir / self.archive).is_file():
      return FileTree(manual_dir / self.archive, self.prefix)
    return None

  def expected(self) -> str:
    """The files this layout needs, in words."""
    folder = None
    if self.folder is not None:
      folder = self.marker if self.folder == '.' else f'{self.folder}/' + (self.marker or '')
    return ' or '.join(f'`{name}`' for name in (self.archive, folder) if name)


def find_tree(manual_dir: pathlib.Path, layouts: Iterable[Layout]) -> FileTree | None:
  """The first of `layouts` present in manual_dir, or None."""
  for layout in layouts:
    if (tree := layout.find(manual_dir)) is not None:
      return tree
  return None


def search(manual_dir: pathlib.Path, path: str, max_depth: int = SEARCH_DEPTH
           ) -> list[pathlib.Path]:
  """Every folder F, manual_dir itself or at most `max_depth` levels below it, for which
  F/path exists; shallowest first, then by name. `path` may hold slashes ('cars_train/1.jpg')."""
  levels_in_path = path.count('/')
  found = []
  for depth in range(max_depth + 1):
    pattern = '/'.join(['*'] * depth + [glob.escape(path)])
    found += sorted(match.parents[levels_in_path] for match in manual_dir.glob(pattern))
  return found


def _listing(paths: Sequence[pathlib.Path]) -> str:
  return ', '.join(str(path) for path in paths)


def find_file(manual_dir: pathlib.Path, name: str, max_depth: int = SEARCH_DEPTH
              ) -> FileTree | None:
  """The folder holding the file `name`, searched for in manual_dir and up to `max_depth`
  levels below it; None if there is none.

  Byte-identical copies count as one: the shallowest is read, and the log says which. Copies
  that differ are a DatasetError naming each, since which one is right cannot be guessed.
  """
  folders = search(manual_dir, name, max_depth)
  if not folders:
    return None
  paths = [folder / name for folder in folders]
  if len(paths) > 1:
    first = paths[0].read_bytes()
    if any(path.read_bytes() != first for path in paths[1:]):
      raise DatasetError(
          f'{len(paths)} different copies of {name} in manual_dir={manual_dir}: '
          f'{_listing(paths)}. Keep the right one and move the others out of manual_dir.')
    logging.info('%d identical copies of %s; reading %s.', len(paths), name, paths[0])
  return FileTree(folders[0])


def find_unique(manual_dir: pathlib.Path, layout: Layout, max_depth: int = SEARCH_DEPTH
                ) -> FileTree | None:
  """The one place, in manual_dir or up to `max_depth` levels below it, where `layout`'s
  folder (holding its marker) or archive is; None if there is none.

  An extracted folder is read rather than an archive of it (the log says so). Two folders, or
  two archives and no folder, are a DatasetError naming each: the files are never guessed.
  """
  folders, archives = [], []
  if layout.folder is not None:
    if layout.marker is None:
      raise ValueError(f'{layout}: searching for a folder needs the marker file it holds.')
    marker = layout.marker if layout.folder == '.' else f'{layout.folder}/{layout.marker}'
    folders = [parent / layout.folder for parent in search(manual_dir, marker, max_depth)]
  if layout.archive is not None:
    archives = [parent / layout.archive
                for parent in search(manual_dir, layout.archive, max_depth)]
  for what, paths in ((f'folders holding {layout.marker}', folders),
                      (f'copies of {layout.archive}', [] if folders else archives)):
    if len(paths) > 1:
      raise DatasetError(
          f'{len(paths)} {what} in manual_dir={manual_dir}: {_listing(paths)}. Keep one and '
          'move the others out of manual_dir.')
  if folders:
    if archives:
      logging.info('Reading the extracted %s, not the archive %s.', folders[0],
                   _listing(archives))
    return FileTree(folders[0])
  return FileTree(archives[0], layout.prefix) if archives else None
