"""Read a dataset's original files from an extracted folder or straight from its tar archive."""

from __future__ import annotations

import dataclasses
import pathlib
import tarfile
from collections.abc import Iterable, Iterator

from cnl_jax.data.info import DatasetError


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
