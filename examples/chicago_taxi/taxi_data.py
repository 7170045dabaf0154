"""The taxi data set, taken from the tfx wheel (15,000 trips, one CSV).

`write_data` copies it (or its first `rows` trips) to a folder, and writes an
unlabelled copy (no `tips` column) for bulk inference.
"""

import csv
import os
from typing import Optional

import tfx

LABEL = 'tips'
HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_CSV = os.path.join(os.path.dirname(tfx.__file__), 'examples',
                           'chicago_taxi_pipeline', 'data', 'simple',
                           'data.csv')


def write_data(target: str = HERE, rows: Optional[int] = None,
               unlabelled_rows: int = 1000) -> dict:
  """Writes <target>/data/data.csv and <target>/data_unlabelled/data.csv.

  Returns the two directories. Existing files with the same content are
  left alone, so repeated runs keep their caches.
  """
  with open(SHIPPED_CSV, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader)
    records = list(reader)
  if rows is not None:
    records = records[:rows]
  label = header.index(LABEL)
  unlabelled = [r[:label] + r[label + 1:] for r in records[:unlabelled_rows]]
  dirs = {'data': os.path.join(target, 'data'),
          'data_unlabelled': os.path.join(target, 'data_unlabelled')}
  _write(dirs['data'], header, records)
  _write(dirs['data_unlabelled'], header[:label] + header[label + 1:],
         unlabelled)
  return dirs


def _write(folder: str, header, records) -> None:
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, 'data.csv')
  temp = path + '.tmp'
  with open(temp, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(records)
  if os.path.exists(path) and _same(path, temp):
    os.remove(temp)
  else:
    os.replace(temp, path)


def _same(a: str, b: str) -> bool:
  with open(a, 'rb') as fa, open(b, 'rb') as fb:
    return fa.read() == fb.read()
