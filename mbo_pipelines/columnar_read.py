"""Query results into pandas through ``COPY ... TO STDOUT``, without a Python object per row.

``fetchall`` builds a tuple, and a str, float or date object per value: about 600 MB for a million rows of
a few keys and amounts. ``copy_frame`` streams PostgreSQL's CSV into pandas' parser instead; repeated texts
and days share one object each. The planner's history and the alerts detector's inputs are read this way.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import pandas as pd
import psycopg
from psycopg import sql


#: How ``copy_frame`` has PostgreSQL write NULL: unquoted ``\N``. Text equal to it comes quoted but would read
#: back as missing too: no key, day or amount in the marts looks like that; a campaign named ``\N`` would read
#: as unnamed.
_COPY_NULL = "\\N"


class _CopyStream(io.RawIOBase):
    """A ``COPY ... TO STDOUT`` as a readable binary stream, block by block, so the text is never held whole."""

    def __init__(self, copy: psycopg.Copy):
        self._blocks = iter(copy)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _shared_values(column: pd.Series, convert=None) -> pd.Series:
    """A categorical column as an object column in which each distinct value is one object (``convert``ed once)
    that all its rows point to: 8 bytes a row instead of a Python object each. Missing values become None."""
    categories = list(column.cat.categories) if convert is None else [convert(v) for v in column.cat.categories]
    codes = column.cat.codes.to_numpy()
    taken = pd.Index([*categories, None], dtype=object).to_numpy().take(codes)  # code -1 (missing) takes None
    return pd.Series(taken, index=column.index, name=column.name, dtype=object)


def copy_frame(conn: psycopg.Connection, query: sql.Composable, params=(), *, texts: Sequence[str] = (),
               days: Sequence[str] = (), numbers: Sequence[str] = (), flags: Sequence[str] = ()) -> pd.DataFrame:
    """``query``'s result streamed through ``COPY ... TO STDOUT`` (CSV) into pandas' parser, without a Python
    object per row: ``texts`` as ``str`` (repeated values shared), ``days`` as ``datetime.date`` (shared),
    ``numbers`` as float64, the very values ``float(Decimal(text))`` gives, ``flags`` (never NULL) as bool."""
    copy_sql = sql.SQL("copy ({}) to stdout (format csv, header true, null {})").format(query, sql.Literal(_COPY_NULL))
    with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        frame = pd.read_csv(
            io.BufferedReader(_CopyStream(copy), buffer_size=1 << 20),
            dtype={**dict.fromkeys([*texts, *days], "category"), **dict.fromkeys(numbers, "float64")},
            # pandas 3 parses floats correctly rounded, as float(Decimal) does (tests/optimize/test_columnar_history).
            keep_default_na=False, na_values=[_COPY_NULL], true_values=["t"], false_values=["f"],
        )
    for column in texts:
        frame[column] = _shared_values(frame[column]).astype("str")
    for column in days:
        frame[column] = _shared_values(frame[column], date.fromisoformat)
    for column in flags:
        frame[column] = frame[column].astype(bool)
    return frame
