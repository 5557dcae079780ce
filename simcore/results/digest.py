"""The digest: a hash of the data, not of the file bytes (docs/results.md, "What the
digest covers").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simcore.errors import ResultError
from simcore.results.arrow import numpy_dtype, validity, values
from simcore.results.layout import LABELS_OF, TABLES


class TableDigest:
    """SHA-256 over a table's content in canonical form, fed batch by batch.

    Each column gets its own hash over the concatenation of its canonical bytes (so the
    result does not depend on how the rows were split into chunks or row groups):
    label columns as int32 little-endian codes into the manifest's label lists (a column
    of ``LABELS_OF`` into the list it names), booleans
    as one byte, integers and floats little-endian in their stored width, nulls as -1
    (integers) or NaN (floats) plus a validity byte per row, every NaN with the same bit
    pattern. The table digest hashes the row count, each column's name, type (``label``,
    ``bool``, ``<i2``, ``<f4`` ...) and hashes, and the label lists.
    """

    def __init__(self, schema: pa.Schema, labels: dict):
        self.schema = schema
        self.labels = {name: list(values) for name, values in labels.items()}
        self.rows = 0
        self._hash = {field.name: hashlib.sha256() for field in schema}
        self._valid = {field.name: hashlib.sha256() for field in schema}
        self._lookup = {name: {v: i for i, v in enumerate(vals)} for name, vals in labels.items()}
        # per column, in schema order: its name, hashes and canonical form (kind, dtype),
        # found once: a chunk of the drivers table (101 columns of 1,024 draws in the
        # partner study) took 35 us a column asking Arrow for each column's type, more
        # than hashing its values
        self._columns = [(f.name, self._hash[f.name], self._valid[f.name], *_form(f.type))
                         for f in schema]
        self._remap: dict[str, tuple] = {}  # label column -> (dictionary, its codes)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.schema.names != self.schema.names:
            raise ResultError(
                f"columns {batch.schema.names} do not match the expected {self.schema.names}"
            )
        self.rows += batch.num_rows
        # numbers are read as the schema types them: where a batch's types differ, every
        # column goes the general way, by its own type
        typed = batch.schema.equals(self.schema, check_metadata=False)
        for (name, values_hash, valid_hash, form, dtype), column in zip(
                self._columns, batch.columns, strict=True):
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else (column,)
            for chunk in chunks:
                if chunk.null_count == 0:
                    valid = None
                    valid_hash.update(_present(len(chunk)))
                else:
                    valid = validity(chunk)
                    valid_hash.update(valid)
                if form == _NUMBER and valid is None and typed:
                    values_hash.update(_number_values(chunk, dtype))
                else:
                    values_hash.update(self._canonical(name, chunk, valid))

    def _canonical(self, name: str, arr: pa.Array, valid: np.ndarray | None) -> np.ndarray:
        """The column's canonical little-endian values (``valid``: its validity bytes, None
        when nothing is null)."""
        kind = arr.type
        if pa.types.is_dictionary(kind) or pa.types.is_string(kind):
            return np.ascontiguousarray(self._codes(name, arr), dtype="<i4")
        if pa.types.is_boolean(kind):
            flags = values(arr)
            if valid is not None:
                flags = flags & valid.view(np.bool_)
            return np.ascontiguousarray(flags, dtype=np.uint8)
        if pa.types.is_integer(kind):
            ints = values(arr)
            if valid is not None:
                ints = np.where(valid.view(np.bool_), ints, -1).astype(ints.dtype)
            return np.ascontiguousarray(ints, dtype=ints.dtype.newbyteorder("<"))
        if pa.types.is_floating(kind):
            floats = values(arr)
            if valid is not None:
                floats = np.where(valid.view(np.bool_), floats, np.nan).astype(floats.dtype)
            nan = np.isnan(floats)
            if nan.any():  # one bit pattern for every NaN
                floats = floats.copy()
                floats[nan] = np.nan
            return np.ascontiguousarray(floats, dtype=floats.dtype.newbyteorder("<"))
        raise ResultError(f"column {name!r} has a type the digest does not cover: {kind}")

    def _codes(self, name: str, arr: pa.Array) -> np.ndarray:
        name = LABELS_OF.get(name, name)
        if name not in self._lookup:
            raise ResultError(f"label column {name!r} has no label list in the manifest")
        lookup = self._lookup[name]
        if not pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_encode()
        indices = values(arr.indices)
        # a writer's chunks share one dictionary: its codes are found once
        known = self._remap.get(name)
        if known is not None and known[0].equals(arr.dictionary):
            remap = known[1]
        else:
            try:
                remap = np.array([lookup[v] for v in arr.dictionary.to_pylist()], dtype=np.int32)
            except KeyError as exc:
                raise ResultError(
                    f"column {name!r} holds label {exc.args[0]!r}, which is not in the "
                    f"manifest's labels"
                ) from None
            self._remap[name] = (arr.dictionary, remap)
        return remap[indices] if len(remap) else np.zeros(0, np.int32)

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        h.update(f"rows:{self.rows}\n".encode())
        for col in self.schema:
            values, valid = self._hash[col.name].hexdigest(), self._valid[col.name].hexdigest()
            h.update(f"{col.name}:{_type_name(col.type)}:{values}:{valid}\n".encode())
        for name in sorted(self.labels):
            if name in self.schema.names:
                h.update(f"labels:{name}:{json.dumps(self.labels[name])}\n".encode())
        return h.hexdigest()


_NUMBER = "number"  # an integer or float column: canonical form = its values' bytes
_OTHER = "other"  # labels, booleans, any type _canonical refuses
_PRESENT = bytearray(b"\x01" * 2**16)  # validity bytes of columns without nulls


def _form(kind: pa.DataType) -> tuple[str, np.dtype | None]:
    """A column type's canonical form: numbers by their little-endian dtype."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _NUMBER, numpy_dtype(kind)
    return _OTHER, None


def _present(n: int) -> memoryview:
    """n validity bytes of 1 (the column has no nulls), without making them each time."""
    global _PRESENT
    ones = _PRESENT  # (another thread may replace it meanwhile: this one is long enough)
    if n > len(ones):
        ones = _PRESENT = bytearray(b"\x01" * n)
    return memoryview(ones)[:n]


def _number_values(arr: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The canonical values of an integer or float array without nulls, as _canonical
    makes them: its values (a view of its buffer), floats' NaNs in one bit pattern."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype)
    data = np.frombuffer(arr.buffers()[1], dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)
    if dtype.kind == "f" and np.isnan(data.min()):  # min is NaN where any value is
        data = data.copy()
        data[np.isnan(data)] = np.nan
    return data


def _type_name(kind: pa.DataType) -> str:
    """A column type in words that no library version changes: ``label``, ``bool`` or
    a numpy type string such as ``<f4``."""
    if pa.types.is_dictionary(kind) or pa.types.is_string(kind):
        return "label"
    if pa.types.is_boolean(kind):
        return "bool"
    return numpy_dtype(kind).str


def combine_digests(tables: dict[str, str]) -> str:
    """The overall digest: SHA-256 over ``name:digest`` lines in the fixed table order."""
    lines = "".join(f"{name}:{tables[name]}\n" for name in TABLES if name in tables)
    return hashlib.sha256(lines.encode()).hexdigest()


def file_digest(path: Path, labels: dict) -> str:
    """The digest of the table stored in a Parquet file, read back row group by row group."""
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        digest = TableDigest(pa.schema([schema.field(n) for n in schema.names]), labels)
        for i in range(pf.num_row_groups):
            digest.update(pf.read_row_group(i))
    except (OSError, pa.ArrowException) as exc:
        raise ResultError(f"{path}: cannot read the Parquet file ({exc})") from None
    return digest.hexdigest()
