"""NumPy <-> Arrow for plain columns, by their buffers.

``pa.array(ndarray)`` and ``Array.to_numpy()`` import pandas the first time they run
(pyarrow checks for pandas types): 0.2 s of a run that never needs pandas. These
helpers wrap and unwrap the buffers themselves, which is also zero-copy both ways.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_FROM_NUMPY = {
    np.dtype(np.int8): pa.int8(), np.dtype(np.int16): pa.int16(),
    np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64(),
    np.dtype(np.uint8): pa.uint8(), np.dtype(np.uint16): pa.uint16(),
    np.dtype(np.uint32): pa.uint32(), np.dtype(np.uint64): pa.uint64(),
    np.dtype(np.float32): pa.float32(), np.dtype(np.float64): pa.float64(),
    np.dtype(np.bool_): pa.bool_(),
}


def numpy_dtype(kind: pa.DataType) -> np.dtype:
    """The NumPy type of a fixed-width Arrow integer, float or boolean type."""
    if pa.types.is_boolean(kind):
        return np.dtype(np.bool_)
    if pa.types.is_floating(kind):
        return np.dtype(f"<f{kind.bit_width // 8}")
    if pa.types.is_signed_integer(kind):
        return np.dtype(f"<i{kind.bit_width // 8}")
    if pa.types.is_unsigned_integer(kind):
        return np.dtype(f"<u{kind.bit_width // 8}")
    raise TypeError(f"no NumPy type for Arrow type {kind}")


def column(values: np.ndarray, kind: pa.DataType | None = None,
           mask: np.ndarray | None = None) -> pa.Array:
    """A 1-D array as an Arrow array of ``kind`` (default: from its dtype); ``mask`` marks
    nulls. Zero-copy for a contiguous array of the right dtype (booleans are packed)."""
    values = np.asarray(values).ravel()
    kind = _FROM_NUMPY[values.dtype] if kind is None else kind
    n = len(values)
    if pa.types.is_boolean(kind):
        data = pa.py_buffer(np.packbits(values.astype(np.bool_), bitorder="little"))
    else:
        data = pa.py_buffer(np.ascontiguousarray(values, dtype=numpy_dtype(kind)))
    validity, nulls = None, 0
    if mask is not None:
        mask = np.asarray(mask, dtype=np.bool_).ravel()
        nulls = int(mask.sum())
        if nulls:
            validity = pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(kind, n, [validity, data], null_count=nulls)


def strings(texts) -> pa.Array:
    """A list of strings as an Arrow string array."""
    data = [t.encode() for t in texts]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def labels(codes: np.ndarray, dictionary) -> pa.DictionaryArray:
    """Dictionary-encoded labels: int32 ``codes`` into ``dictionary`` (strings)."""
    if not isinstance(dictionary, pa.Array):
        dictionary = strings(dictionary)
    return pa.DictionaryArray.from_arrays(column(codes, pa.int32()), dictionary)


def values(arr: pa.Array) -> np.ndarray:
    """The values of a fixed-width array as a read-only NumPy view (booleans as bool);
    what null entries hold is undefined."""
    kind = arr.type
    n, offset = len(arr), arr.offset
    data = arr.buffers()[1]
    if pa.types.is_boolean(kind):
        if n == 0:
            return np.zeros(0, np.bool_)
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits[offset : offset + n].view(np.bool_)
    dtype = numpy_dtype(kind)
    if n == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(data, dtype=dtype, count=n, offset=offset * dtype.itemsize)


def validity(arr: pa.Array) -> np.ndarray | None:
    """uint8[n]: 1 where a value is present, 0 where null; None when nothing is null."""
    if arr.null_count == 0:
        return None
    n, offset = len(arr), arr.offset
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[offset : offset + n]
