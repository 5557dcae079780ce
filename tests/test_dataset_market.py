"""The dataset's market table (market.csv, docs/dataset.md): read into the tensor,
validated like the other tables, optional (the generic defaults and a note), in the hash
only when present; the baseline's table follows its supply types."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from simcore.dataset import DatasetProblems, load_dataset
from simcore.marketdata import GENERIC, PARAMS, generic_table

HEADER = "material,parameter,low,mode,high,reasoning,source\n"


def _rows(material: str, **changes) -> str:
    out = []
    for p in PARAMS:
        lo, mo, hi = changes.get(p.name, GENERIC[p.name])
        out.append(f"{material},{p.name},{lo},{mo},{hi},a reason,a source\n")
    return "".join(out)


def test_without_market_csv_every_material_is_generic_with_a_note(tiny_copy):
    t = load_dataset(tiny_copy)
    assert t.market is None
    np.testing.assert_array_equal(t.market_table, generic_table(len(t.materials)))
    assert any("market.csv is absent" in n for n in t.meta["notes"])
    out = subprocess.run([sys.executable, "-m", "simcore", "data", "validate",
                          str(tiny_copy)], capture_output=True, text=True)
    assert out.returncode == 0 and "note: market.csv is absent" in out.stdout


def test_market_csv_is_read_per_material_and_unlisted_ones_are_generic(tiny_copy):
    base_hash = load_dataset(tiny_copy).hash
    (tiny_copy / "market.csv").write_text(
        HEADER + _rows("gallium", choke_price=(20, 25, 30), spot_share=(0.1, 0.2, 0.3)),
        encoding="utf-8")
    t = load_dataset(tiny_copy)
    k = t.materials.index("gallium")
    names = [p.name for p in PARAMS]
    np.testing.assert_array_equal(t.market_table[k, names.index("choke_price")], [20, 25, 30])
    np.testing.assert_array_equal(t.market_table[k, names.index("spot_share")],
                                  [0.1, 0.2, 0.3])
    other = t.materials.index("antimony")
    np.testing.assert_array_equal(t.market_table[other], generic_table(1)[0])
    assert any("does not list graphite, antimony" in n for n in t.meta["notes"])
    assert t.meta["market_source"][("gallium", "choke_price")] == ("a reason", "a source")
    assert t.hash != base_hash  # the table is part of the content hash
    # ... and the hash does not depend on the order of its rows
    lines = (tiny_copy / "market.csv").read_text("utf-8").splitlines(keepends=True)
    (tiny_copy / "market.csv").write_text(lines[0] + "".join(reversed(lines[1:])), "utf-8")
    assert load_dataset(tiny_copy).hash == t.hash


@pytest.mark.parametrize("edit, check, words", [
    (lambda s: s.replace("gallium,choke_price", "gallium,choke_prize"), "unknown-parameter",
     "did you mean 'choke_price'"),
    (lambda s: s.replace("gallium,spot_share,0.3,0.5,0.7", "gallium,spot_share,0.6,0.5,0.7"),
     "range-order", "low <= mode <= high"),
    (lambda s: s.replace("gallium,spot_share,0.3,0.5,0.7", "gallium,spot_share,0.3,0.5,1.7"),
     "out-of-range", "<= 1"),
    (lambda s: s.replace("gallium,choke_price,5.0,10.0,20.0", "gallium,choke_price,1,10,20"),
     "out-of-range", "> 1"),
    # a medium-run elasticity of 0 cleared an undisturbed market at the choke price
    (lambda s: s.replace("gallium,demand_elasticity_medium,0.2,0.4,0.8",
                         "gallium,demand_elasticity_medium,0,0.4,0.8"), "out-of-range", "> 0"),
    (lambda s: s.replace("gallium,spot_share,0.3,0.5,0.7,a reason,a source",
                         "gallium,spot_share,0.3,0.5,0.7,,"), "no-source", "reasoning"),
    (lambda s: "".join(line for line in s.splitlines(keepends=True)
                       if "restart_months" not in line), "missing-parameter", "restart_months"),
    (lambda s: s + "gallium,spot_share,0.3,0.5,0.7,again,x\n", "duplicate-key", "spot_share"),
    (lambda s: s.replace("gallium,inventory_weeks", "galium,inventory_weeks"), "unknown-code",
     "did you mean 'gallium'"),
])
def test_a_bad_market_row_is_named(tiny_copy, edit, check, words):
    (tiny_copy / "market.csv").write_text(edit(HEADER + _rows("gallium")), encoding="utf-8")
    with pytest.raises(DatasetProblems) as exc:
        load_dataset(tiny_copy)
    assert check in exc.value.checks
    text = str(exc.value)
    assert "market.csv line" in text and words in text
    if check in ("range-order", "out-of-range", "no-source", "duplicate-key"):
        # the parameter is listed, with a fault of its own: not also "missing"
        assert exc.value.checks == {check}, text


def test_the_baseline_lists_every_material_by_its_supply_type():
    t = load_dataset()
    assert t.market is not None and not t.meta["notes"]
    with open(t.path / "market.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(t.materials) * len(PARAMS)
    assert all(r["reasoning"] and r["source"] for r in rows)
    why = {(r["material"], r["parameter"]): r["reasoning"] for r in rows}
    assert why[("gallium", "choke_price")].startswith("supply type by_product")
    assert why[("cobalt", "feed_inventory_weeks")].startswith("cobalt departs from its type")
    names = [p.name for p in PARAMS]
    ga, ge, cu = (t.materials.index(m) for m in ("gallium", "germanium", "copper"))
    np.testing.assert_array_equal(t.market_table[ga], t.market_table[ge])  # one type
    assert not np.array_equal(t.market_table[ga], t.market_table[cu])
    assert "market.csv" in {r["path"] for r in t.meta["datapackage"]["resources"]}
    assert (t.market_table[:, names.index("choke_price"), 0] > 1).all()


def test_docs_carry_the_calibrated_values():
    """docs/model.md, "Calibration", shows the table the baseline is built from
    (`python -m simcore.databuild.market` rewrites it)."""
    from pathlib import Path

    from simcore.databuild.build import _read_table
    from simcore.databuild.market import BEGIN, END, PARAMS_HEADER, markdown_table

    doc = (Path(__file__).resolve().parent.parent / "docs" / "model.md").read_text("utf-8")
    shown = doc.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == markdown_table(_read_table("market_parameters.csv", PARAMS_HEADER))
