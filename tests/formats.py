"""Results folders rewritten in an older results format, for the tests that read them."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simcore import results as R


def as_format_3(res, folder):
    """Rewrite a results folder of format 4 as format 3: every exposure's rows under its
    own labels (a copy of the rows it is stored as), exposures.parquet without
    stored_as, manifest and digests too."""
    shutil.copytree(res.folder, folder)
    stored = res.table("shortage", stored=True).to_pandas()
    ex = res.table("exposures").to_pandas()
    parts = []
    for x, row in ex.iterrows():
        rows = stored[(stored["material"] == row["material"]) & (stored["stage"] == row["stage"])
                      & (stored["country"] == row["stored_as"])].copy()
        rows["country"] = row["country"]
        rows["order"] = x
        parts.append(rows)
    table = pd.concat(parts).sort_values(["draw", "order"], kind="stable").drop(columns="order")
    for name in ("material", "stage", "country"):
        table[name] = pd.Categorical(table[name].astype(str),
                                     categories=res.manifest["labels"][name])
    pq.write_table(pa.Table.from_pandas(table, schema=R.SHORTAGE_FILE_SCHEMA,
                                        preserve_index=False), folder / "shortage.parquet")
    pq.write_table(res.table("exposures").drop_columns(["stored_as"]),
                   folder / "exposures.parquet")
    manifest = json.loads((folder / "run.json").read_text())
    manifest["format"] = R.FORMAT_3
    for name in ("shortage", "exposures"):
        manifest["digest"]["tables"][name] = R.file_digest(folder / f"{name}.parquet",
                                                           manifest["labels"])
    manifest["digest"]["sha256"] = R.combine_digests(manifest["digest"]["tables"])
    (folder / "run.json").write_text(json.dumps(manifest))
    return R.load_result(folder)


def as_old_format(res, folder, fmt: str):
    """Rewrite a results folder as format 2 (every row and column stored, no exposures
    table) or 1 (no price tables, no accounting columns), manifest and digests too."""
    shutil.copytree(res.folder, folder)
    table = res.table("shortage")
    manifest = json.loads((folder / "run.json").read_text())
    drop = ["exposures"]
    if fmt.endswith("/1"):
        table = table.drop_columns(list(R.ACCOUNTING_COLUMNS))
        drop += ["prices", "zone_prices"]
    pq.write_table(table, folder / "shortage.parquet")
    for name in drop:
        (folder / f"{name}.parquet").unlink()
        manifest["digest"]["tables"].pop(name)
    manifest["files"] = [f for f in manifest["files"] if f[:-8] not in drop]
    manifest["format"] = fmt
    manifest["digest"]["tables"]["shortage"] = R.file_digest(folder / "shortage.parquet",
                                                             manifest["labels"])
    manifest["digest"]["sha256"] = R.combine_digests(manifest["digest"]["tables"])
    (folder / "run.json").write_text(json.dumps(manifest))
    return R.load_result(folder)
