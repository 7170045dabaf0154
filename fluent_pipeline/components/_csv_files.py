"""CSV files read as CsvExampleGen reads them, in blocks of columns.

TFX takes the header from the file's first line (io_utils'
load_csv_column_names: the line split on commas, no quoting) and parses
each record after it with Python's csv module, a record being lines joined
until their quotes balance; blank lines are skipped. pyarrow's parser gives
the same cells (quoted commas, line breaks and quotes, CRLF, unicode:
tests/test_columnar_csv.py runs TFX's reading code beside it), so the data
after the header line is handed to it, every column as text, a block at a
time. Where the two can part (a quote inside a cell, a line ending in a
lone CR, a NUL byte: TFX refuses some of those), the first pass over a file
notices it and the file is read again as TFX reads it; so is a file pyarrow
refuses, to name its first bad line and how to fix it.

A large file is cut into parts (`parts`: about PART_BYTES of text each) that
are read independently, so that Beam's workers share one file. A part ends
at a line break after which the quotes seen since the header are even:
where TFX's executor, grouping lines until their quotes balance, ends a
record too. Each part is read, checked and located (line numbers) as the
whole file would be.
"""

import csv
from typing import Iterator, List, NamedTuple, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from tfx.dsl.io import fileio
from tfx.utils import io_utils

BLOCK_BYTES = 8 << 20  # of CSV text per block: bounds the memory per file
PART_BYTES = 8 << 20  # of CSV text per part of a file (a unit of work)
_SCAN_BYTES = 8 << 20  # read at a time when cutting a file into parts
_MAX_BLOCK_BYTES = 1 << 30  # a row longer than that is refused
_MAX_FILE_BYTES = 1 << 62  # no limit

_UTF8_FIX = ('save the file as UTF-8 (for instance `iconv -f latin1 -t '
             'utf-8 IN > OUT`): CsvExampleGen reads UTF-8 only')
_QUOTE_FIX = ('quote a field that holds a comma, a quote or a line break, '
              'doubling the quotes inside it: "say ""hi"", then go"')
_NUL_FIX = ("remove the NUL bytes from the file (for instance `tr -d "
            "'\\000' < IN > OUT`)")


class CsvInputError(ValueError):
  """A CSV file CsvExampleGen cannot read: the file, the line, the fix.

  Its args are its parts, so the copy Beam makes of an error it passes on
  (the first arg with the step's name added) keeps them.
  """

  def __init__(self, problem: str, path: Optional[str] = None,
               line: Optional[int] = None, fix: Optional[str] = None):
    super().__init__(problem, path, line, fix)
    self.problem, self.path, self.line, self.fix = problem, path, line, fix

  def __str__(self) -> str:
    message = self.problem
    if self.path is not None:
      where = f'{self.path} line {self.line}' if self.line else self.path
      message = f'{where}: {message}'
    if self.fix:
      message += f'\n  fix: {self.fix}'
    return message


def _open(path: str):
  """A binary file object; the builtin one for a local path (faster)."""
  return open(path, 'rb') if '://' not in path else fileio.open(path, 'rb')


def header(path: str) -> List[str]:
  """The column names, exactly as CsvExampleGen takes them."""
  try:
    return io_utils.load_csv_column_names(path)
  except UnicodeDecodeError as e:
    failure = CsvInputError(
        f'the header is not UTF-8 text ({e.reason} at byte {e.start})', path,
        1, _UTF8_FIX)
  except Exception as e:  # OSError, gfile's NotFoundError, ...
    failure = unreadable(path, e)
  raise failure  # here, not in the except clause: see _failure


def unreadable(path: str, error: BaseException) -> CsvInputError:
  reason = str(error).strip() or type(error).__name__
  return CsvInputError(
      f'cannot be read ({reason})', path, None,
      'make the file readable by the user running the pipeline (chmod '
      'a+r), or move it out of the input folder')


class Part(NamedTuple):
  """Bytes [start, stop) of a file: whole records; `line` is the number of
  the line `start` begins (the header is line 1)."""
  start: int
  stop: int
  line: int


def parts(path: str, size: Optional[int] = None) -> List[Part]:
  """The file after its header line cut into parts of about `size` bytes
  (PART_BYTES unless told), each ending at the first line break past that
  size where the quotes since the header are even. At least one part (an
  empty one for a file with no rows)."""
  size = size or PART_BYTES
  try:
    f = _open(path)
  except Exception as e:  # whatever the file system raises
    failure = e
  else:
    failure = None
  if failure is not None:
    raise unreadable(path, failure)
  found: List[Part] = []
  with f:
    start = base = len(f.readline())
    line, quotes, newlines = 2, 0, 0  # counted from the header's end
    while True:
      chunk = f.read(_SCAN_BYTES)
      if not chunk:
        break
      at = 0  # quotes and newlines are counted up to here
      while start + size - base < len(chunk):
        end = chunk.find(b'\n', max(start + size - base, at))
        if end < 0:
          break
        quotes += chunk.count(b'"', at, end + 1)
        newlines += chunk.count(b'\n', at, end + 1)
        at = end + 1
        if quotes % 2 == 0:
          found.append(Part(start, base + at, line))
          start, line = base + at, 2 + newlines
      quotes += chunk.count(b'"', at)
      newlines += chunk.count(b'\n', at)
      base += len(chunk)
  if base > start or not found:
    found.append(Part(start, base, line))
  return found


def blocks(path: str, columns: int, block_bytes: Optional[int] = None,
           screened: bool = False, part: Optional[Part] = None
           ) -> Iterator[List[pa.Array]]:
  """The cells of `part` (or of everything after the header line): per
  block (BLOCK_BYTES of text unless told), one string array per column, an
  empty cell as ''. A row longer than a block is read again with blocks
  four times larger.

  `screened`: the file is also watched for what pyarrow reads but TFX's
  reader may refuse (a NUL byte, a line break of a lone CR, a quote inside
  a cell, where TFX's grouping of lines by their quotes can differ); when
  one is seen, the part is read again as TFX reads it once the last block
  is out, and its first bad line raised (CsvInputError).
  """
  size, done, screen = block_bytes or BLOCK_BYTES, 0, _Screen()
  while True:
    try:
      for cells in _blocks(path, columns, size, done,
                           screen if screened else None, part):
        done += len(cells[0])
        yield cells
      break
    except _Straddling as e:
      refusal = e.error
    if size >= _MAX_BLOCK_BYTES:
      raise located(path, columns, refusal, part)
    size *= 4
  if screen.suspect:
    found = first_problem(path, columns, part)
    if found is not None:
      raise CsvInputError(found[1], path, found[0], found[2])


class _Straddling(Exception):
  """A row longer than the block size."""

  def __init__(self, error: Exception):
    super().__init__(error)
    self.error = error


class _Screen:
  """Watches the bytes pyarrow reads for a NUL or a lone CR, and its cells
  for a quote: what makes TFX's reader worth asking."""

  def __init__(self):
    self.suspect, self._cr = False, b''

  def bytes_read(self, data: bytes) -> None:
    if self.suspect:
      return
    if b'\x00' in data:
      self.suspect = True
    text = self._cr + data
    self._cr = b'\r' if data.endswith(b'\r') else b''
    if self._cr:  # its LF may be in the next read
      text = text[:-1]
    if text.count(b'\r') != text.count(b'\r\n'):
      self.suspect = True

  def cells_read(self, cells: List[pa.Array]) -> None:
    if not self.suspect:
      self.suspect = any(pc.any(pc.match_substring(c, '"')).as_py()
                         for c in cells)


class _Watched:
  """The `left` bytes of a binary file from where it is, which pyarrow
  reads and a _Screen (if any) sees; also what makes TF's GFile (a remote
  path), which pyarrow refuses as it is, a file object it takes.

  A read never ends between a CR and what follows it (the CR is held for
  the next read): pyarrow 10 drops the LF of a CRLF inside a quoted cell
  when a block ends between the two."""

  def __init__(self, f, screen: Optional[_Screen], left: int):
    self._f, self._screen, self._left, self.closed = f, screen, left, False
    self._held = b''

  def read(self, size: int = -1) -> bytes:
    held, self._held = self._held, b''
    size = (self._left + len(held) if size is None or size < 0 else
            min(size, self._left + len(held)))
    more = size - len(held)
    data = held + (self._f.read(more) if more > 0 else b'')
    self._left -= len(data) - len(held)
    if len(data) > 1 and data.endswith(b'\r') and self._left > 0:
      self._held, data = data[-1:], data[:-1]
    if self._screen is not None:
      self._screen.bytes_read(data)
    return data

  def tell(self) -> int:
    return self._f.tell()

  def readable(self) -> bool:
    return True

  def seekable(self) -> bool:
    return False

  def close(self) -> None:
    self.closed = True


def _blocks(path: str, columns: int, size: int, skip: int,
            screen: Optional[_Screen], part: Optional[Part]
            ) -> Iterator[List[pa.Array]]:
  names = [f'c{i}' for i in range(columns)]
  try:
    f = _open(path)
  except Exception as e:  # whatever the file system raises
    failure = e
  else:
    failure = None
  if failure is not None:
    raise _failure(path, columns, failure, part)
  with f:
    try:
      if part is None:
        f.readline()  # the header, as TFX skips it
        left = _MAX_FILE_BYTES
      else:
        f.seek(part.start)
        left = part.stop - part.start
        # A part is read as one block (it ends a record past PART_BYTES):
        # not as a full block and a sliver, each paying a block's costs;
        # and without pyarrow's threads, which one block cannot use.
        size = max(size, left)
      reader = pcsv.open_csv(
          _Watched(f, screen, left),
          read_options=pcsv.ReadOptions(column_names=names, block_size=size,
                                        use_threads=part is None),
          parse_options=pcsv.ParseOptions(newlines_in_values=True),
          convert_options=pcsv.ConvertOptions(
              column_types={n: pa.string() for n in names},
              strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as e:
      failure = e
    if failure is not None:
      if str(failure).startswith('Empty CSV file'):
        return  # a header and nothing after it: no rows
      raise _failure(path, columns, failure, part)
    while True:
      try:
        batch = reader.read_next_batch()
      except StopIteration:
        return
      except (pa.ArrowInvalid, OSError) as e:
        failure = e
      if failure is not None:
        raise _failure(path, columns, failure, part)
      if skip >= batch.num_rows:  # read before a retry with larger blocks
        skip -= batch.num_rows
        continue
      batch, skip = batch.slice(skip), 0
      cells = [batch.column(i) for i in range(columns)]
      if screen is not None:
        screen.cells_read(cells)
      yield cells


def _failure(path: str, columns: int, error: Exception,
             part: Optional[Part] = None) -> Exception:
  """The error to raise for one met reading `path`. It is raised outside
  the except clause, so that it ends the chain of exceptions: the one a
  run's diagnosis (the innermost) and a user read."""
  if isinstance(error, pa.ArrowInvalid):
    if 'straddl' in str(error):
      return _Straddling(error)
    return located(path, columns, error, part)
  return unreadable(path, error)


def located(path: str, columns: int, error: Optional[Exception],
            part: Optional[Part] = None) -> CsvInputError:
  """The error naming the first line TFX cannot read, found by reading the
  file (or `part`) as TFX does; pyarrow's own words if that finds none."""
  try:
    found = first_problem(path, columns, part)
  except Exception as e:  # whatever the file system raises
    return unreadable(path, e)
  if found is None:
    return CsvInputError(
        f'pyarrow cannot parse it ({error})', path, None,
        "read it with TFX's own CsvExampleGen (reader='tfx'), and report "
        'the file: the two readers should agree')
  line, problem, fix = found
  return CsvInputError(problem, path, line, fix)


def first_problem(path: str, columns: int, part: Optional[Part] = None
                  ) -> Optional[Tuple[int, str, str]]:
  """(line, problem, fix) of the first record CsvExampleGen fails on, in
  the file or in `part` of it (whose records are the file's).

  Lines are grouped, decoded and parsed as TFX's CSV executor and
  tfx_bsl's csv_decoder do.
  """
  with _open(path) as f:
    if part is None:
      f.readline()
      number, left = 1, _MAX_FILE_BYTES
    else:
      f.seek(part.start)
      number, left = part.line - 1, part.stop - part.start
    start, pending, quotes = number, [], 0
    for raw in f:
      if left <= 0:
        break
      left -= len(raw)
      number += 1
      try:
        text = raw.decode('utf-8')
      except UnicodeDecodeError as e:
        return (number, f'is not UTF-8 text ({e.reason} at byte {e.start} '
                f'of the line)', _UTF8_FIX)
      if not pending:
        start = number
      pending.append(text)
      quotes += text.count('"')
      if quotes % 2:
        continue
      record, lines = ''.join(pending), len(pending)
      pending, quotes = [], 0
      try:
        cells = next(csv.reader([record]), [])
      except csv.Error as e:
        return (start, *_parse_problem(str(e), start, lines))
      if cells and len(cells) != columns:
        return (start, f'has {len(cells)} fields where the header has '
                f'{columns}', _QUOTE_FIX if len(cells) > columns else
                f'give the row {columns} fields (an empty field is fine: '
                'a,,c)')
    if pending:
      return (start, 'has a quote that is never closed: CsvExampleGen '
              'joins every line after it to this row', _QUOTE_FIX)
  return None


def _parse_problem(error: str, start: int, lines: int) -> Tuple[str, str]:
  """(problem, fix) of a record Python's csv module refuses."""
  if 'NUL' in error:
    return 'holds a NUL byte, which CsvExampleGen refuses', _NUL_FIX
  if lines > 1:
    return (f'has a quote inside a field that is not quoted, so '
            f'CsvExampleGen joins lines {start}-{start + lines - 1} into one '
            f'row and cannot parse it ({error})', _QUOTE_FIX)
  if 'new-line' in error:
    return ('has a carriage return (\\r) outside quotes, which CsvExampleGen '
            'refuses', 'end lines with \\n or \\r\\n (for instance `tr '
            "'\\r' '\\n'`), or quote the field that holds the \\r")
  return f'is not valid CSV ({error})', _QUOTE_FIX
