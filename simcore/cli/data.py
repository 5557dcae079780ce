"""``supplyshock data``: validate, show and build datasets.

The library does the work (``simcore.dataset``, ``simcore.datasummary``,
``simcore.databuild``); this module parses options and prints. It never imports numba.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from simcore._paths import shell_word
from simcore.cli import OutPath
from simcore.errors import DatasetError

# The origin whose dominance the analyst's view measures, and the importers watched.
ORIGIN = "CHN"
WATCHED = ("USA", "partners")


def register(main: click.Group) -> None:
    main.add_command(data)


@click.group()
def data():
    """Validate, inspect and build datasets (docs/dataset.md)."""


def _dataset_label(tensor) -> str:
    from simcore.dataset import builtin_path

    if tensor.path is not None and tensor.path == builtin_path():
        return f"built-in baseline ({tensor.path})"
    return str(tensor.path)


@data.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path):
    """Check a dataset folder (default: the built-in baseline).

    Prints a one-line summary with counts and the content hash, then any warnings.
    Exits non-zero, listing every problem found, when the dataset has errors.
    """
    from simcore.dataset import REQUIRED_FILES, load_dataset

    if path is not None and path.is_dir() and not any(
            (path / f).is_file() for f in REQUIRED_FILES) and any(path.glob("*.toml")):
        # a folder of scenario files (a new-user pass read "create materials.csv")
        raise DatasetError(
            f"{path} holds scenario files (*.toml), not a dataset (none of "
            f"{', '.join(REQUIRED_FILES)}); check scenarios with `supplyshock validate "
            f"{shell_word(path)}`")
    t = load_dataset(path, fresh=True)  # parsed, whatever the caches hold
    n_stage = int(t.n_stages.sum())
    n_flows = int((t.flow > 0).sum())
    click.echo(
        f"OK {_dataset_label(t)}: {len(t.materials)} materials ({n_stage} material-stages), "
        f"{len(t.countries)} countries, {len(t.groups)} groups, {n_flows} flows, "
        f"{int((t.stock > 0).sum())} stocks; {len(t.warnings)} warnings; hash {t.hash}"
    )
    for w in t.warnings:
        click.echo(f"warning: {w}")
    for n in t.meta.get("notes", ()):
        click.echo(f"note: {n}")


@data.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", "dataset", type=click.Path(path_type=Path),
              help="Dataset folder (same as PATH; default: the built-in baseline).")
@click.option("--material", "-m", help="Show one material in detail.")
@click.option("--stage", "-s", help="Only this stage (e.g. mining, refining).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1),
              help="Countries listed per table.")
@click.option("--routes", "n_routes", type=click.IntRange(min=1), metavar="N",
              help="With --material: the N largest exporter -> importer routes per stage, "
                   "with tonnes, shares and source (observed, fitted, estimated), instead of "
                   "the country tables.")
def show(path, dataset, material, stage, top, n_routes):
    """Production and need by country, shares, concentration (HHI), dependence on China.

    Without --material: one line per material and stage. With --material: per stage,
    the countries' production and need with shares, the top net importers, and the
    share of US and `partners` need supplied from China (direct, and including Chinese
    feed in other producers' output). With --material and --routes N: the N largest
    routes of each stage and where each comes from.
    """
    from simcore.dataset import load_dataset

    if path is not None and dataset is not None and Path(path) != Path(dataset):
        raise click.UsageError("give the dataset either as PATH or as --dataset, not both")
    if n_routes is not None and material is None:
        raise click.UsageError("--routes lists one material's routes: give --material too "
                               "(e.g. --material graphite --routes 10)")
    t = load_dataset(path if path is not None else dataset)
    if material is None:
        _overview(t, stage)
    elif n_routes is not None:
        _routes(t, material, stage, n_routes)
    else:
        _material(t, material, stage, top)


# --- printing -------------------------------------------------------------------------------


def _t(value: float) -> str:
    """Tonnes, readable: thousands separators, no false precision."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    return f"{value:.4g}"


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 2].rstrip() + ".."


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _watched(t):
    """(label, country indices) of the watched importers this dataset has, and the origin."""
    origin = t.countries.index(ORIGIN) if ORIGIN in t.countries else None
    out = []
    for name in WATCHED:
        if name in t.countries or name in t.groups:
            out.append((name, t.resolve_countries([name])))
    return origin, out


def _stages_of(t, k: int, stage: str | None) -> list[int]:
    if stage is None:
        return list(range(len(t.stages[k])))
    return [t.stage_index(t.materials[k], stage, "--stage: ")]


def _overview(t, stage: str | None) -> None:
    from simcore.datasummary import dependence, stage_summary
    from simcore.errors import suggest

    origin, watched = _watched(t)
    if stage is not None and not any(stage in st for st in t.stages):
        all_stages = sorted({s for st in t.stages for s in st})
        raise DatasetError(f"--stage: no material has stage {stage!r}"
                           f"{suggest(stage, all_stages)}; stages: {', '.join(all_stages)}")
    click.echo(f"Dataset {_dataset_label(t)}  (hash {t.hash[:12]})")
    # units are long ("t graphite (anode-material equivalent)"): --material shows them
    head = ["material", "stage", "production t/yr", "top producer", "HHI"]
    if origin is not None:
        head.append(f"{ORIGIN} share")
        head += [f"{name} from {ORIGIN}" for name, _ in watched]
    rows = []
    for k, m in enumerate(t.materials):
        deps = {}
        if origin is not None:
            deps = {name: dependence(t, k, origin, idx) for name, idx in watched}
        for s, sname in enumerate(t.stages[k]):
            if stage is not None and sname != stage:
                continue
            sm = stage_summary(t, k, s)
            top = int(sm.production.argmax())
            row = [m, sname, _t(sm.total),
                   f"{t.countries[top]} {_pct(sm.production_share[top])}" if sm.total else "-",
                   f"{sm.hhi:,.0f}"]
            if origin is not None:
                row.append(_pct(sm.production_share[origin]))
                for name, _ in watched:
                    d = deps[name][s]
                    row.append(_pct(d.direct) if d.need > 0 else "-")
            rows.append(row)
    _table(head, rows, right=set(range(2, len(head))) - {3})
    click.echo(
        f"\nProduction in t/yr of each material's reference unit. HHI: 0-10,000, above "
        f"1,800 highly concentrated. '{ORIGIN} share': of world production. "
        f"'<importer> from {ORIGIN}': share of its need shipped from {ORIGIN}.\n"
        "Use --material for the detail."
    )


def _material(t, material: str, stage: str | None, top: int) -> None:
    from simcore.datasummary import dependence, hhi_label, stage_summary

    k = t.material_index(material, "--material: ")
    stages = _stages_of(t, k, stage)
    origin, watched = _watched(t)
    click.echo(f"Dataset {_dataset_label(t)}  (hash {t.hash[:12]})")
    click.echo(
        f"{t.materials[k]} ({t.material_names[k]}): unit {t.units[k]}, stages "
        f"{' -> '.join(t.stages[k])}, reference price {_t(float(t.price[k]))} USD/t"
    )
    last = len(t.stages[k]) - 1
    for s in stages:
        sm = stage_summary(t, k, s)
        click.echo(
            f"\n{t.stages[k][s]}: world production {_t(sm.total)} t/yr, HHI {sm.hhi:,.0f} "
            f"({hhi_label(sm.hhi)})"
        )
        order = sorted(
            (c for c in range(len(t.countries)) if sm.production[c] > 0 or sm.need[c] > 0),
            key=lambda c: (-sm.production[c], -sm.need[c], c),
        )
        head = ["country", "production", "share", "need", "share", "net imports",
                "capacity"]
        if s == last:
            head.append("stock t")
        rows = []
        for c in order[:top]:
            row = [f"{t.countries[c]} {_short(t.country_names[c])}", _t(sm.production[c]),
                   _pct(sm.production_share[c]), _t(sm.need[c]), _pct(sm.need_share[c]),
                   _t(sm.net_imports[c]), _t(sm.capacity[c])]
            if s == last:
                row.append(_t(t.stock[k, c]))
            rows.append(row)
        _table(head, rows, right=set(range(1, len(head))), indent="  ")
        if len(order) > top:
            click.echo(f"  ... {len(order) - top} more countries (--top to list them)")
        producers = [c for c in order if sm.production[c] > 0][:5]
        click.echo("  top producers: " + ", ".join(
            f"{t.countries[c]} {_pct(sm.production_share[c])}" for c in producers))
        importers = sorted((c for c in order if sm.net_imports[c] > 0),
                           key=lambda c: (-sm.net_imports[c], c))[:5]
        click.echo("  top net importers: " + (", ".join(
            f"{t.countries[c]} {_t(sm.net_imports[c])} t/yr" for c in importers) or "none"))
        if origin is not None and watched:
            click.echo(f"  supplied from {ORIGIN}, share of need:")
            width = max(len(name) for name, _ in watched)
            for name, idx in watched:
                d = dependence(t, k, origin, idx)[s]
                if d.need <= 0:
                    click.echo(f"    {name:<{width}}  no need at this stage")
                    continue
                text = f"    {name:<{width}}  {_pct(d.direct):>6} of {_t(d.need)} t/yr"
                if s > 0:
                    text += f" ({_pct(d.upstream)} counting {ORIGIN} feed in others' output)"
                click.echo(text)


def _routes(t, material: str, stage: str | None, n: int) -> None:
    from simcore.datasummary import routes

    k = t.material_index(material, "--material: ")
    click.echo(f"Dataset {_dataset_label(t)}  (hash {t.hash[:12]})")
    click.echo(f"{t.materials[k]} ({t.material_names[k]}): unit {t.units[k]}")
    sources = set()
    for s in _stages_of(t, k, stage):
        found = routes(t, k, s, n)
        trade = float(t.flow[k, s].sum() - t.flow[k, s].trace())
        click.echo(f"\n{t.stages[k][s]}: top {len(found)} routes of {_t(trade)} t/yr traded "
                   f"across borders ({_pct(trade / t.flow[k, s].sum()) if trade else '0.0%'} "
                   "of world production)")
        if not found:
            click.echo("  no cross-border flows")
            continue
        rows = []
        for n_, r in enumerate(found, start=1):
            rows.append([str(n_), f"{t.countries[r.exporter]} -> {t.countries[r.importer]}",
                         _t(r.tonnes), _pct(r.share_of_trade), _pct(r.share_of_exports),
                         r.source])
            sources.add(r.source)
        _table(["#", "route", "t/yr", "of trade", "of its exports", "source"], rows,
               right={0, 2, 3, 4}, indent="  ")
    meaning = {
        "observed": "the route is in the trade data (CEPII BACI) or a published bilateral "
                    "share; its level is reconciled with production and need",
        "fitted": "not in the trade data: filled by the fit where the data leave exports or "
                  "imports unexplained",
        "estimated": "a stage without usable trade data: estimated from production, need "
                     "and a gravity prior",
        "unknown": "the dataset gives no provenance (flows.csv has no source column)",
    }
    click.echo("")
    click.echo("of trade: the route's share of the stage's cross-border trade; of its "
               "exports: its share of the exporter's cross-border exports")
    for src in ("observed", "fitted", "estimated", "unknown"):
        if src in sources:
            click.echo(f"{src}: {meaning[src]}")


def _table(head: list[str], rows: list[list[str]], right: set[int], indent: str = "") -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells):
        return indent + "  ".join(
            str(v).rjust(w) if n in right else str(v).ljust(w)
            for n, (v, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    click.echo(line(head))
    for r in rows:
        click.echo(line(r))


def _check_build_target(out: Path, dataset_files: set[str]) -> None:
    """Refuse an --out that the build would clobber: it replaces the whole folder."""
    if out.exists() and not out.is_dir():
        raise DatasetError(
            f"data build --out {out}: is a file, not a folder; name a new folder (or an "
            "earlier build) for the dataset"
        )
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in dataset_files)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise DatasetError(
                f"data build --out {out}: the folder holds files that are not part of a "
                f"dataset ({shown}) and the build replaces the whole folder; name a new "
                "folder (or an earlier build) for the dataset"
            )


def _with_folder(text: str, tables) -> str:
    """A build message that begins with a bare table name (``consumption_shares.csv:``)
    names the file it read: the user's, in the --tables folder, or the packaged one (a
    new-user pass could not tell which)."""
    name = re.split(r"[: ]", text, maxsplit=1)[0]
    if not name.endswith(".csv") or "/" in name or "\\" in name:
        return text
    mine = Path(tables) / name if tables is not None else None
    where = str(mine) if mine is not None and mine.is_file() else f"the packaged {name}"
    return where + text[len(name):]


@data.command()
@click.option("--out", type=OutPath(path_type=Path),
              help="Folder to write (default: the package's built-in baseline folder).")
@click.option("--tables", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Folder of your own hand-written tables (e.g. consumption_shares.csv) "
                   "replacing the packaged ones of the same name.")
def build(out, tables):
    """Build the baseline dataset from the raw source tables (docs/baseline.md).

    With --tables, your own estimates (consumption shares, production shares,
    bilateral anchors, countries, groups) replace the packaged tables of the same name;
    write the result somewhere of your own with --out.
    """
    try:
        from simcore.databuild import build_dataset
    except ImportError as exc:
        raise DatasetError(
            f"the dataset builder is not available in this installation ({exc}); "
            "install supplyshock from a source checkout to rebuild the baseline"
        ) from None
    from simcore.dataset import builtin_path, load_dataset

    if tables is not None and out is None:
        raise DatasetError(
            "data build --tables: give --out too, so that a dataset built from your own "
            "tables does not replace the built-in baseline"
        )
    target = out if out is not None else builtin_path()
    if out is not None:
        _check_build_target(out, {p.name for p in builtin_path().iterdir()})
    try:
        build_dataset(target, tables=tables)
    except DatasetError as exc:
        raise DatasetError(_with_folder(str(exc), tables)) from None
    except OSError as exc:
        raise DatasetError(
            f"data build --out {target}: cannot write there ({exc.strerror or exc}); "
            "choose a folder you can write to with --out"
        ) from None
    t = load_dataset(target)
    click.echo(f"built {target}: {len(t.materials)} materials, {len(t.countries)} countries, "
               f"{len(t.warnings)} warnings; hash {t.hash}")
