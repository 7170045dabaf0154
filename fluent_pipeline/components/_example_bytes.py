"""tf.train.Examples serialized a block of rows at a time, with numpy.

CsvExampleGen assigns an example to a split by the sha256 of its
deterministic serialization (`SerializeToString(deterministic=True)`: the
features in the byte order of their names), so the bytes hashed here must be
exactly those. tfx_bsl's RecordBatch encoder writes the features in the
order of its hash map, and parsing and re-serializing each of its examples
in Python costs more than TFX's whole reader saves; so the protobuf wire
format of an Example whose features hold at most one value each is written
here directly, column by column:

    Example    = 0x0a len(Features) Features
    Features   = (0x0a len(Entry) Entry) per feature, sorted by name
    Entry      = 0x0a len(name) name 0x12 len(Feature) Feature
    Feature    = nothing (no type), or
                 0x1a len 0x0a len varint           (int64_list, packed)
                 0x12 len 0x0a 0x04 float32 LE      (float_list, packed)
                 0x0a len 0x0a len bytes            (bytes_list)
                 with an empty list as its two bytes `0x1a 0x00` etc.

A row's bytes are segments laid side by side in a byte matrix (one column
block per segment, each row using the first `n` bytes of its block), the
unused bytes masked out; string values are joined on by pyarrow.
tests/test_columnar_csv.py checks the bytes against protobuf's own.
"""

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A segment of every row: bytes of a constant, or (matrix, bytes used per row).
Segment = Union[bytes, Tuple[np.ndarray, np.ndarray]]


def varints(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Protobuf varints of non-negative int64 / uint64 values: the (n, width)
  byte matrix and the bytes each uses."""
  values = values.astype(np.uint64, copy=False)
  top = int(values.max()) if len(values) else 0
  width = max(1, (top.bit_length() + 6) // 7)
  matrix = np.empty((len(values), width), np.uint8)
  used = np.ones(len(values), np.int64)
  for k in range(width):
    shifted = values >> np.uint64(7 * k)
    matrix[:, k] = (shifted & np.uint64(0x7f)).astype(np.uint8)
    if k:
      used += shifted != 0
  if width > 1:
    more = np.arange(width - 1)[None, :] < (used - 1)[:, None]
    matrix[:, :-1] |= more.astype(np.uint8) << 7
  return matrix, used


def _varint_size(lengths: np.ndarray) -> np.ndarray:
  size = np.ones(len(lengths), np.int64)
  for bound in (1 << 7, 1 << 14, 1 << 21, 1 << 28, 1 << 35):
    size += lengths >= bound
  return size


def _length(segment: Segment, rows: int) -> np.ndarray:
  if isinstance(segment, bytes):
    return np.full(rows, len(segment), np.int64)
  return segment[1]


def pack(segments: Sequence[Segment], rows: int) -> pa.Array:
  """One binary value per row: its bytes of each segment, in order."""
  widths = [len(s) if isinstance(s, bytes) else s[0].shape[1]
            for s in segments]
  matrix = np.empty((rows, sum(widths)), np.uint8)
  sizes = np.zeros(rows, np.int64)
  start, partial, prefix = 0, np.zeros(rows, bool), True
  for segment, width in zip(segments, widths):
    if isinstance(segment, bytes):
      matrix[:, start:start + width] = np.frombuffer(segment, np.uint8)
      used = width
    else:
      matrix[:, start:start + width], used = segment
      # Bytes after a segment's unused ones: no row is a plain prefix.
      prefix = prefix and not (partial & (used > 0)).any()
      partial |= used < width
    sizes += used
    start += width
  if prefix:
    return _row_prefixes(matrix, sizes)
  keep = np.empty(matrix.shape, bool)
  start = 0
  for segment, width in zip(segments, widths):
    keep[:, start:start + width] = (
        True if isinstance(segment, bytes)
        else np.arange(width)[None, :] < segment[1][:, None])
    start += width
  return _binary(matrix[keep], sizes)


def _binary(data: np.ndarray, sizes: np.ndarray) -> pa.Array:
  offsets = np.zeros(len(sizes) + 1, np.int64)
  np.cumsum(sizes, out=offsets[1:])
  return pa.Array.from_buffers(pa.large_binary(), len(sizes), [
      None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _row_prefixes(matrix: np.ndarray, sizes: np.ndarray) -> pa.Array:
  """The first sizes[i] bytes of each row i: the matrix as a binary array
  of (used, unused) pairs, the used ones taken (one copy, in C++)."""
  rows, width = matrix.shape
  offsets = np.empty(2 * rows + 1, np.int64)
  offsets[0:-1:2] = np.arange(rows, dtype=np.int64) * width
  offsets[1::2] = offsets[0:-1:2] + sizes
  offsets[-1] = rows * width
  pairs = pa.Array.from_buffers(pa.large_binary(), 2 * rows, [
      None, pa.py_buffer(offsets), pa.py_buffer(matrix.reshape(-1))])
  return pairs.take(pa.array(np.arange(0, 2 * rows, 2)))


class Feature:
  """The serialized tf.train.Feature of one column, row by row: segments,
  then (for strings) the values themselves; `size` is bytes per row."""

  def __init__(self, segments: List[Segment], size: np.ndarray,
               tail: Optional[pa.Array] = None):
    self.segments, self.size, self.tail = segments, size, tail

  def serialized(self) -> pa.Array:
    """Each row's Feature bytes (a partition key is hashed from these)."""
    rows = len(self.size)
    arrays = [pack(self.segments, rows)]
    if self.tail is not None:
      arrays.append(self.tail.cast(pa.large_binary()))
    return _join(arrays)


def int64_feature(values: np.ndarray, present: np.ndarray) -> Feature:
  """0x1a len 0x0a len varint; an empty cell is an empty int64_list."""
  digits, used = varints(values.view(np.uint64))
  used = np.where(present, used, 0)
  head = np.empty((len(values), 4), np.uint8)
  head[:, 0], head[:, 1] = 0x1a, np.where(present, used + 2, 0)
  head[:, 2], head[:, 3] = 0x0a, used
  head_used = np.where(present, 4, 2)
  return Feature([(head, head_used), (digits, used)], head_used + used)


def float_feature(values: np.ndarray, present: np.ndarray) -> Feature:
  """0x12 0x06 0x0a 0x04 float32; an empty cell is an empty float_list."""
  rows = len(values)
  matrix = np.empty((rows, 8), np.uint8)
  matrix[:, 0], matrix[:, 1] = 0x12, np.where(present, 6, 0)
  matrix[:, 2], matrix[:, 3] = 0x0a, 4
  matrix[:, 4:] = values.astype('<f4').view(np.uint8).reshape(rows, 4)
  used = np.where(present, 8, 2)
  return Feature([(matrix, used)], used)


def bytes_feature(values: pa.Array, present: np.ndarray) -> Feature:
  """0x0a len 0x0a len bytes; an empty cell is an empty bytes_list."""
  value_size = pc.binary_length(values).to_numpy(
      zero_copy_only=False).astype(np.int64)
  value_len, value_len_used = varints(value_size)
  value_head = np.where(present, 1 + value_len_used, 0)
  list_size = np.where(present, value_head + value_size, 0)
  list_len, list_len_used = varints(list_size)
  inner = np.full((len(values), 1), 0x0a, np.uint8)
  segments = [b'\x0a', (list_len, list_len_used),
              (inner, np.where(present, 1, 0)),
              (value_len, np.where(present, value_len_used, 0))]
  return Feature(segments, 1 + list_len_used + list_size, values)


def no_type_feature(rows: int) -> Feature:
  """tf.train.Feature(): a column without a single value in the split."""
  return Feature([], np.zeros(rows, np.int64))


def _entry(name: bytes, feature: Feature) -> Tuple[List[pa.Array],
                                                   np.ndarray]:
  """Features' map entry of one feature: (binary arrays to join, bytes
  per row)."""
  key = b'\x0a' + _varint_bytes(len(name)) + name + b'\x12'
  size = len(key) + _varint_size(feature.size) + feature.size
  head = pack([b'\x0a', varints(size), key, varints(feature.size),
               *feature.segments], len(size))
  tail = [] if feature.tail is None else [feature.tail.cast(pa.large_binary())]
  return [head, *tail], 1 + _varint_size(size) + size


def examples(features: Sequence[Tuple[bytes, Feature]], rows: int
             ) -> pa.Array:
  """Each row's Example, serialized as protobuf's deterministic
  serialization does: features in the byte order of their names."""
  parts: List[pa.Array] = []
  size = np.zeros(rows, np.int64)
  for name, feature in sorted(features, key=lambda f: f[0]):
    arrays, entry_size = _entry(name, feature)
    parts.extend(arrays)
    size += entry_size
  return _join([pack([b'\x0a', varints(size)], rows), *parts])


def _join(arrays: Sequence[pa.Array]) -> pa.Array:
  if len(arrays) == 1:
    return arrays[0]
  return pc.binary_join_element_wise(
      *arrays, pa.scalar(b'', pa.large_binary()))


def _varint_bytes(value: int) -> bytes:
  out = bytearray()
  while True:
    byte, value = value & 0x7f, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)
