"""``supplyshock stockpile size | budget | show``: how much stockpile, of what, where.

A thin layer over ``simcore.stockpile`` (docs/stockpile.md): options are parsed and
checked here, the search and the writing happen in the library. The output folder is
checked before the (long) search starts.
"""

from __future__ import annotations

import math
import shlex

import click

from simcore._paths import shell_word
from simcore.cli import OutPath
from simcore.limits import MAX_DRAWS, MAX_SEED
from simcore.money import usd as _usd
from simcore.money import usd4 as _usd4

DEFAULT_OUT = "stockpile"


def register(main: click.Group) -> None:
    main.add_command(stockpile)


@click.group("stockpile")
def stockpile():
    """Size state stockpiles: the smallest that meets a target (size), the best use of a
    budget (budget), and what a sizing folder holds (show). docs/stockpile.md."""


def _common(f):
    """Options shared by size and budget."""
    opts = [
        click.option("--holders", required=True, metavar="GROUP_OR_COUNTRIES",
                     help="Who holds stockpiles: a group (each direct member a holder, e.g. "
                     "partners) or country codes, separated by commas."),
        click.option("--materials", default=None, metavar="M1,M2",
                     help="Materials to stockpile (default: every material of the scenario)."),
        click.option("--pool", is_flag=True,
                     help="One stockpile per material shared by all holders (a buyers' club) "
                     "instead of national ones."),
        click.option("--reserved", is_flag=True,
                     help="Stock serves only its holders' own use (default: it sells into "
                     "their price zone, protecting neighbours too)."),
        click.option("--carry", type=float, default=0.05, show_default=True,
                     help="Carrying cost per year, as a share of the purchase cost."),
        click.option("--max-release-share", type=float, default=None,
                     help="Release at most this share of the holder's monthly need a month "
                     "(default: no bound)."),
        click.option("--draws", "-n", type=click.IntRange(1, MAX_DRAWS), default=None,
                     help="Draws of the confirming run (default: the scenario's)."),
        click.option("--search-draws", type=click.IntRange(1, MAX_DRAWS), default=None,
                     help="Draws of the narrowing search (default: a tenth of --draws, at "
                     "least 200, at most --draws)."),
        click.option("--seed", "-s", type=click.IntRange(0, MAX_SEED - 1), default=None,
                     help="Random seed (default: the scenario's)."),
        click.option("--threads", "-t", type=click.IntRange(min=1), default=None,
                     help="Engine threads (default: all cores). Results do not depend on it."),
        click.option("--out", "-o", type=OutPath(), default=DEFAULT_OUT, show_default=True,
                     help="Folder for the variant OUT/NAME.toml and its results OUT/NAME/."),
        click.option("--name", default=None,
                     help="Name of the variant (default: <scenario>-stockpile-<kind>, "
                     "<kind> national, pooled or budget, with -reserved after it for "
                     "--reserved)."),
        click.option("--force", is_flag=True,
                     help="Replace an earlier sizing in OUT/NAME that asked another "
                     "question: other holders, target, budget, objective, pooling or "
                     "materials, or more draws (refused without it; --name keeps both)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _command(verb: str, scenario: str, **opts) -> str:
    words = ["supplyshock", "stockpile", verb, scenario]
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


def _check_out(scenario, out, name, kind, reserved, holders=None, question=None,
               force=False, materials=None, draws=None):
    """check_output's (variant file, results folder, name); with ``holders`` and
    ``question`` ((its _question_key, its text: "target p95<=0.05")), an earlier sizing
    there of other holders or another question is refused unless ``force`` (a new-user
    pass replaced a minutes-long sizing by a check of another country under the default
    name)."""
    from simcore import api
    from simcore.stockpile.errors import StockpileError
    from simcore.stockpile.holders import resolve_holders
    from simcore.stockpile.output import check_output

    prep = api.prepare(scenario)
    found = check_output(prep.name, out, name, kind, prep.scenario.files, reserved)
    if holders is None or force:
        return found
    who = [h.name for h in resolve_holders(holders, prep.scenario, prep.tensor)]
    before = _record(found[1])
    if before is None:
        return found
    was_who = list(before.get("holders") or ())
    was, was_key = _question(before), _question_key(before)
    was_draws = before.get("draws")
    now_draws = prep.compiled.draws if draws is None else int(draws)
    why = []
    if sorted(was_who) != sorted(who) or was_key != question[0]:
        why.append(f"this one is for holders {', '.join(who)}, {question[1]}")
    if _materials_of(before) != (None if materials is None else
                                 sorted(m.strip() for m in str(materials).split(","))):
        why.append(f"this one is for other materials ({materials or 'every one'})")
    if isinstance(was_draws, int) and now_draws < was_draws:
        why.append(f"this one has fewer draws ({now_draws:,})")
    if why:
        raise StockpileError(
            f"{found[1]} holds an earlier sizing for holders {', '.join(was_who)}, {was} "
            f"({f'{was_draws:,}' if isinstance(was_draws, int) else '?'} draws, written "
            f"{before.get('created_utc', '?')}); {'; '.join(why)}: give --name to keep "
            "both, or --force to replace it")
    return found


def _materials_of(m: dict) -> list[str] | None:
    """The --materials a sizing record's command gave (sorted), None where it gave none
    (every material of the scenario)."""
    try:
        words = shlex.split(str(m.get("command", "")))
    except ValueError:
        return None
    if "--materials" not in words or words.index("--materials") + 1 >= len(words):
        return None
    return sorted(x.strip() for x in words[words.index("--materials") + 1].split(","))


def _record(folder) -> dict | None:
    import json
    from pathlib import Path

    try:
        m = json.loads((Path(folder) / "stockpile.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _question_key(m: dict):
    """What a sizing record answered, for comparison: ("size", quantile, metric, value)
    or ("budget", dollars, objective, scheme): a pooled budget and a national one share
    the default name (``budget``) but answer different questions."""
    try:
        if m.get("kind") == "size":
            t = m["target"]
            return ("size", float(t["quantile"]), str(t["metric"]), float(t["value"]))
        return ("budget", float(m["budget_usd"]), str(m.get("objective")),
                str(m.get("scheme", "national")))
    except (KeyError, TypeError, ValueError):
        return None


def _question(m: dict) -> str:
    """What a sizing record answered: "target p95<=0.05" or "budget $2.0bn, pooled"."""
    try:
        return (f"target {m['target']['text']}" if m.get("kind") == "size" else
                f"budget {_usd(float(m['budget_usd']))}, {m.get('scheme', 'national')}")
    except (KeyError, TypeError, ValueError):
        return "?"


def _earlier(folder) -> str | None:
    """What the sizing in ``folder`` that this run replaces was (holders, target or
    budget, when), or None when there is none: a walkthrough's Japan sizing was replaced
    by a later one of the same name without a word."""
    m = _record(folder)
    if m is None:
        return None
    try:
        return (f"holders {', '.join(m['holders'])}, {_question(m)}, "
                f"{'reserved' if m.get('reserved') else 'selling'}, {m['draws']:,} draws, "
                f"written {m.get('created_utc', '?')}")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@stockpile.command("size")
@click.argument("scenario", type=click.Path())
@click.option("--target", required=True, metavar='"pQ[(METRIC)]<=X"',
              help='Bound on a quantile over draws of each holder\'s outcome: "p95<=0.05" '
              '(shortage share), "p90(months)<=2", "p95(price)<=1.5".')
@_common
def size_cmd(scenario, target, holders, materials, pool, reserved, carry, max_release_share,
             draws, search_draws, seed, threads, out, name, force, quiet):
    """The smallest stockpile of each (holder, material) that meets --target.

    Searches on common random numbers (few draws narrow it, all draws confirm it to
    0.5 %), then writes OUT/NAME.toml (a variant of SCENARIO with the stockpiles) and
    OUT/NAME/ (its results, the search trace, the recommendation). With --pool, one
    shared stockpile per material, compared with the national ones.
    """
    from simcore.stockpile import size, write
    from simcore.stockpile.target import parse_target

    kind = "pooled" if pool else "national"
    t = parse_target(target)  # a malformed target is refused before any simulation
    asked = (("size", t.quantile, t.metric, t.value), f"target {t.text}")
    earlier = _earlier(_check_out(scenario, out, name, kind, reserved, holders, asked,
                                  force, materials, draws)[1])
    command = _command("size", scenario, holders=holders, target=target, materials=materials,
                       pool=pool, reserved=reserved, carry=carry,
                       max_release_share=max_release_share, draws=draws,
                       search_draws=search_draws, seed=seed, out=out, name=name)
    result = size(scenario, holders, target, materials=materials, pool=pool,
                  reserved=reserved, carry=carry, max_release_share=max_release_share,
                  draws=draws, search_draws=search_draws, seed=seed, threads=threads,
                  progress=False if quiet else None)
    folder = write(result, out, name, command=command, progress=False)
    if not quiet:
        click.echo(size_report(result))
        _where(out, folder, earlier)
    few = _few_draws(result.target.text, result.target.quantile, result.problem.draws)
    if few:
        click.echo(f"Warning: {few}", err=True)


SMALL_BUDGET_USD = 1e6  # below this a --budget is likely meant in millions (a warning)


@stockpile.command("budget")
@click.argument("scenario", type=click.Path())
@click.option("--budget", "budget_usd", type=float, required=True,
              help="Money to spend [USD], purchase and carrying cost over the horizon, "
              "e.g. 2e9.")
@click.option("--objective", type=click.Choice(["expected-value", "p95"]),
              default="expected-value", show_default=True,
              help="What the dollars should lower: the expected value of the holders' "
              "shortage, or its 95th percentile over draws.")
@click.option("--steps", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Equal steps the budget is spent in.")
@_common
def budget_cmd(scenario, budget_usd, objective, steps, holders, materials, pool, reserved,
               carry, max_release_share, draws, search_draws, seed, threads, out, name,
               force, quiet):
    """Where the next dollars of stockpile do most: a greedy allocation.

    Each step spends budget/steps on the (holder, material) — with --pool, the material —
    whose stockpile lowers the objective most on common random numbers; prints the
    allocation and the frontier (budget -> objective) and writes the variant and its
    results as `size` does.
    """
    from simcore.stockpile import budget, write
    from simcore.stockpile.budget import _check

    _check(budget_usd, steps, objective)
    if budget_usd < SMALL_BUDGET_USD:
        click.echo(f"Warning: --budget {budget_usd:g} is {_usd(budget_usd)} in all, "
                   f"{_usd(budget_usd / steps)} a step: the budget is in US dollars "
                   f"(2e9 is $2bn), and a step this small buys grams of a critical "
                   f"mineral.", err=True)
    scheme = "pooled" if pool else "national"
    asked = (("budget", float(budget_usd), objective, scheme),
             f"budget {_usd(budget_usd)}, {scheme}")
    earlier = _earlier(_check_out(scenario, out, name, "budget", reserved, holders, asked,
                                  force, materials, draws)[1])
    command = _command("budget", scenario, holders=holders, budget=budget_usd,
                       objective=objective, steps=steps, materials=materials, pool=pool,
                       reserved=reserved, carry=carry, max_release_share=max_release_share,
                       draws=draws, search_draws=search_draws, seed=seed, out=out, name=name)
    result = budget(scenario, holders, budget_usd, objective=objective, steps=steps,
                    materials=materials, pool=pool, reserved=reserved, carry=carry,
                    max_release_share=max_release_share, draws=draws,
                    search_draws=search_draws, seed=seed, threads=threads,
                    progress=False if quiet else None)
    folder = write(result, out, name, command=command, progress=False)
    if not quiet:
        click.echo(budget_report(result))
        _where(out, folder, earlier)


@stockpile.command("show")
@click.argument("folder", type=click.Path())
def show_cmd(folder):
    """What a sizing folder (OUT/NAME/) recommends; checks its tables are unaltered."""
    from pathlib import Path

    from simcore.stockpile.errors import StockpileError
    from simcore.stockpile.output import MANIFEST, load

    m = load(folder)
    try:
        text = show_text(m, folder)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StockpileError(
            f"{Path(folder) / MANIFEST}: not a complete sizing record ({type(exc).__name__}: "
            f"{exc}); it was edited or damaged: run the sizing again"
        ) from None
    click.echo(text)
    if m["problems"]:
        for line in m["problems"]:
            click.echo(f"  - {line}", err=True)
        raise SystemExit(1)


def _where(out, folder, earlier: str | None = None) -> None:
    from pathlib import Path

    toml = Path(out) / f"{Path(folder).name}.toml"
    click.echo(f"-> {toml} (the variant) and {folder}/ (its results and the search); "
               f"check with: supplyshock verify {shell_word(folder)}")
    if earlier:
        click.echo(f"   (replaced the sizing written there before: {earlier}; --name keeps "
                   "sizings apart)")


# --- text -------------------------------------------------------------------------------------


def _table(header, rows, right_from: int = 2) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = []
    for r in [header, *rows]:
        cells = [str(c).ljust(w) if i < right_from else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _num(x: float) -> str:
    if x is None or x != x:
        return "-"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:,.1f}"
    if a >= 1:
        return f"{x:,.2f}"
    return f"{x:.3g}"


def _variant_path(m: dict, folder) -> str:
    """The variant file as recorded, or beside the folder where the folder was moved
    with it (the record names where it was written)."""
    from pathlib import Path

    recorded = str(m["variant"]["path"])
    beside = Path(folder).absolute().parent / Path(recorded).name  # `show .` too
    if not Path(recorded).is_file() and beside.is_file():
        try:
            shown = beside.relative_to(Path.cwd())
        except ValueError:
            shown = beside
        return f"{shown.as_posix()} (written as {recorded})"
    return recorded


def _holders_line(holders) -> str:
    """Who the holders are, and the groups split into their members (a new-user pass
    asked for the EU and got 28 national sizings without a word)."""
    line = f"holders ({len(holders)}): " + ", ".join(h.name for h in holders)
    # the groups split into countries, each a holder: a group whose member is a group
    # (one = ["EU27"]) already sizes that member as one holder
    groups = list(dict.fromkeys(
        h.via for h in holders if getattr(h, "via", None)
        and tuple(getattr(h, "codes", (h.name,))) == (h.name,)))
    if groups:
        first = groups[0]
        line += (f" ({', '.join(groups)}: {'each' if len(groups) > 1 else 'its'} members, "
                 f"each a holder sized on its own; to size {first} as one holder, name it "
                 f'in a group of the scenario, [groups] one = ["{first}"], and give '
                 "--holders one)")
    return line


def _few_draws(text: str, q: float, draws: int) -> str | None:
    from simcore.stockpile.target import few_draws_note

    return few_draws_note(draws, q, f"the target {text}")


def _interval(metric: str, lo, hi, q: float, draws: int) -> str:
    """A statistic's 95% interval; an upper end that the draws do not bound is said so
    (it would be the largest draw)."""
    from simcore.stockpile.target import upper_open

    top = "no bound" if upper_open(draws, q) else _stat(metric, hi)
    return f"[{_stat(metric, lo)}, {top}]"


def _stat(metric: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if metric == "share":
        return f"{100 * v:.2f}%"
    if metric == "months":
        return f"{v:.2f}"
    return f"{v:.3f}"


def size_report(s) -> str:
    p, t = s.problem, s.target
    scheme = ("pooled: one stockpile per material shared by the holders" if p.pool else
              "national: each holder's stockpile sized on its own")
    lines = [
        f"{p.prep.name}: stockpiles for {t.text} ({t.label} of each holder), "
        f"{p.draws:,} draws (search {p.search_draws:,}), seed {p.seed}; {scheme}; "
        f"{'reserved for the holders' if p.reserved else 'selling into their price zone'}; "
        f"cost at the reference price + {100 * p.carry:g} % a year over "
        f"{p.horizon} months",
    ]
    lines.append(_holders_line(p.holders))
    need = [r for r in s.rows if r["status"] == "ok"]
    none = [r for r in s.rows if r["status"] == "none needed"]
    if need:
        header = ["holder", "material", "tonnes", "t/month", "months", "cost",
                  f"P{100 * t.quantile:g} [95% interval]", "without", "all national"]
        # with --pool the table holds both: each holder's national stockpile (for the
        # comparison) and the pool
        if p.pool:
            header = ["kind", *header]
        rows = [[*([r["kind"]] if p.pool else []), r["holder"], r["material"],
                 _num(r["tonnes"]),
                 _rate(p, r), _num(r["months_of_need"]),
                 _usd(r["cost_horizon_usd"]),
                 f"{_stat(t.metric, r['statistic'])} "
                 + _interval(t.metric, r["ci_low"], r["ci_high"], t.quantile, p.draws),
                 _stat(t.metric, r["statistic_without"]),
                 _stat(t.metric, r.get("statistic_all_national"))]
                for r in need]
        lines.append(_table(header, rows, right_from=3 if p.pool else 2))
        lines.append("  (tonnes: the stockpile; t/month: the release rate it needs; months: "
                     "of the holder's need; cost: purchase + carrying over the horizon; "
                     "[95% interval]: the Monte Carlo error of the statistic, estimated from "
                     "these draws; the stockpile is the least that meets the target on them, "
                     "so the statistic of other draws may lie just above the target (more "
                     "--draws narrow the interval); all national: with every holder's "
                     "national stockpile in place"
                     + ("; a pool's row: months of all its holders' need together, its "
                        "statistic the worst-off holder's, each holder's own in "
                        "protection.parquet" if p.pool else "") + ")")
        joined = _joined(p, need)
        if joined:
            lines.append(joined)
        national = [r for r in need if r["kind"] == "national"]
        if not p.pool and len(national) > 1:
            lines.append(_together(national, p.reserved))
    if none:
        lines.append("Met without a stockpile: " + ", ".join(
            f"{r['holder']} {r['material']} ({_stat(t.metric, r['statistic_without'])})"
            for r in none))
    if p.no_need:
        lines.append("No need at the last stage: " + ", ".join(
            f"{h} {p.material_name(k)}" for h, k in p.no_need))
    if p.pool:
        lines.append("Pooled vs national, the same target for every holder:")
        rows = []
        for k in p.materials:
            m = p.material_name(k)
            nat = [r for r in s.rows if r["kind"] == "national" and r["material"] == m]
            pool = [r for r in s.rows if r["kind"] == "pooled" and r["material"] == m]
            if not pool:
                continue
            nt = sum(r["tonnes"] for r in nat)
            nc = sum(r["cost_horizon_usd"] for r in nat)
            pc = pool[0]["cost_horizon_usd"]
            rows.append([m, _num(nt), _usd(nc), _num(pool[0]["tonnes"]), _usd(pc),
                         f"{pc / nc:.2f}" if nc > 0 else "-"])
        lines.append(_table(["material", "national t", "national cost", "pooled t",
                             "pooled cost", "pooled/national"], rows, right_from=1))
        if not p.reserved and len(p.holders) > 1:
            lines.append(
                "  (national: the sum of each holder's stockpile sized as if alone; "
                "stockpiles selling into one price zone protect each other, so the sum "
                "can overshoot the target (all national above): pooling saves at most "
                "what the ratio says, and may save less)")
    spill = [r for r in s.spillover if r["protector"] != "pool"]
    if spill:
        lines.append("Spill-over: expected shortage each national stockpile avoids [t], for "
                     "its holder and for the others (spillover.parquet: who protects whom):")
        rows = []
        for r in s.rows:
            if r["kind"] != "national" or r["status"] != "ok":
                continue
            mine = [x for x in spill if x["protector"] == r["holder"] and
                    x["material"] == r["material"]]
            own = sum(x["avoided_t"] for x in mine if x["self"])
            holders = sum(x["avoided_t"] for x in mine
                          if not x["self"] and x["protected"] != "others")
            others = sum(x["avoided_t"] for x in mine if x["protected"] == "others")
            rows.append([r["holder"], r["material"], _num(own), _num(holders), _num(others)])
        lines.append(_table(["holder", "material", "own", "other holders", "non-holders"],
                            rows))
        mostly = _mostly_others(p, s.rows, spill)
        if mostly:
            lines.append(mostly)
    odd = [r for r in s.rows if r["status"] == "ok" and (
        not r["monotone"] or r["nonmonotone_draws"])]
    if odd:
        lines.append("Monotonicity (docs/stockpile.md): " + "; ".join(
            f"{r['holder']} {r['material']}: "
            + ("a larger size missed the target in the search, " if not r["monotone"] else "")
            + f"{r['nonmonotone_draws']:,} of {p.draws:,} draws with more shortage at a "
            f"larger size (at most {_num(r['nonmonotone_max_t'])} t"
            + _of_need(r, p.horizon) + ")"
            + ("" if not r["monotone"] else ", the target's statistic monotone")
            for r in odd))
    lines.append(f"{s.runs:,} runs, {s.draws_run:,} draws simulated in {s.seconds:.1f} s")
    return "\n".join(lines)


def _of_need(r: dict, horizon: int) -> str:
    """ ", 1.3 % of horizon need" for a sizing row's largest non-monotone rise."""
    need = r.get("need_t_per_month")
    if not need or not need == need or need <= 0:
        return ""
    return f", {100 * r['nonmonotone_max_t'] / (need * horizon):.2g} % of horizon need"


OWN_SHARE_LOW = 0.25  # below this share of what it avoids, a stock mostly serves others


def _mostly_others(p, rows: list, spill: list) -> str | None:
    """The line after the spill-over table when national stockpiles selling into their
    price zone avoid mostly other buyers' shortage: such a stock is sized to supply the
    whole zone, which a ministry reading tonnes for its own use should know (a walkthrough
    sized 285 months of Germany's tungsten need, 2 % of what it avoided its own)."""
    if p.reserved:
        return None
    low = []
    for r in rows:
        if r["kind"] != "national" or r["status"] != "ok":
            continue
        mine = [x for x in spill if x["protector"] == r["holder"] and
                x["material"] == r["material"]]
        total = sum(x["avoided_t"] for x in mine)
        own = sum(x["avoided_t"] for x in mine if x["self"])
        if total > 0 and own < OWN_SHARE_LOW * total:
            low.append(f"{r['holder']} {r['material']} {100 * own / total:.0f} %")
    if not low:
        return None
    return ("  Mostly for others: these stockpiles sell into their price zone and avoid "
            "chiefly other buyers' shortage (their own share of it: " + ", ".join(low)
            + "); to move the holder's statistic they must supply the zone. --reserved "
            "sizes a stock for the holder's own use (usually far smaller)"
            + ("" if p.pool else "; --pool one shared by the holders") + " (docs/stockpile.md).")


def _existing(p, r) -> tuple[float, float]:
    """(tonnes, t/month) of the state stocks the row's stockpile joins
    (``Problem.existing``: the dataset's and the study's, of its kind)."""
    k = p.tensor.materials.index(r["material"])
    return p.existing("pool" if r["kind"] == "pooled" else r["holder"], k)


def _rate(p, r) -> str:
    """The t/month cell: the release rate the stockpile adds; ``~0`` where that is
    nothing next to the existing stock's rate it is released with."""
    rate = r["release_t_per_month"]
    _, old = _existing(p, r)
    if old > 0 and rate == rate and rate <= 1e-6 * old:
        return "~0"
    return _num(rate)


def _joined(p, rows: list) -> str | None:
    """The line that says which stockpiles join an existing state stock, whose release
    rate then carries them (a searched rate of about 0 means that rate suffices)."""
    parts = []
    for r in rows:
        tonnes, rate = _existing(p, r)
        if rate > 0 or tonnes > 0:
            who = "the holders" if r["kind"] == "pooled" else r["holder"]
            parts.append(f"{who} {r['material']} ({_num(tonnes)} t at {_num(rate)} t/month)")
    if not parts:
        return None
    return ("  These join the holder's existing state stock of their kind (the dataset's and "
            "the study's; one stock of each kind per country, docs/stockpile.md) and are "
            "released with it, at the two rates together: " + ", ".join(parts) + ". t/month "
            "is the rate the stockpile adds; ~0: the existing rate suffices, the new tonnes "
            "make it last longer.")


def _together(national: list, reserved: bool) -> str:
    """The line under a national sizing's table: what the variant holds in all, and why
    that may be more than the target needs."""
    tonnes = {}
    for r in national:
        tonnes[r["material"]] = tonnes.get(r["material"], 0.0) + r["tonnes"]
    cost = sum(r["cost_horizon_usd"] for r in national)
    held = ", ".join(f"{_num(t)} t of {m}" for m, t in tonnes.items())
    why = ("each holder's own stockpile meets its target alone" if reserved else
           "each was sized as if alone, yet a stockpile that sells into its price zone "
           "protects that zone's other holders too (all national), so together they can "
           "overshoot the target; --pool sizes one shared stockpile per material")
    return f"Together, as the variant holds them: {held}; {_usd(cost)}. ({why})"


def budget_report(b) -> str:
    p = b.problem
    lines = [
        f"{p.prep.name}: {_usd(b.budget_usd)} in {b.steps} steps of {_usd(b.step_usd)}, "
        f"objective {b.objective} of the holders' shortage value; {p.draws:,} draws "
        f"(choices on {p.search_draws:,}), seed {p.seed}; "
        f"{'pooled' if p.pool else 'national'} stockpiles, "
        f"{'reserved for the holders' if p.reserved else 'selling into their price zone'}",
        _holders_line(p.holders),
    ]
    if b.rows:
        rows = [[r["holder"], r["material"], _num(r["tonnes"]), _num(r["release_t_per_month"]),
                 _num(r["months_of_need"]), _usd(r["cost_horizon_usd"]), str(r["steps"])]
                for r in b.rows]
        lines.append(_table(["holder", "material", "tonnes", "t/month", "months", "cost",
                             "steps"], rows))
        lines.append("  (tonnes: bought; t/month: released at will, all of it in a month or "
                     "--max-release-share's bound; months: of the holder's need; cost: "
                     "purchase + carrying over the horizon; steps: budget steps spent on it)")
    else:
        lines.append("Nothing bought: no stockpile lowers the objective.")
    if b.stopped:
        lines.append(f"Stopped early: {b.stopped}.")
    lines.append("Frontier (budget -> objective):")
    rows = [[str(r["step"]), _usd4(r["spent_usd"]),
             f"{r['holder']} {r['material']}".strip() or "-", _usd4(r["objective_search"]),
             f"{_usd4(r['objective'])} [{_usd4(r['ci_low'])}, {_usd4(r['ci_high'])}]"]
            for r in b.frontier]
    lines.append(_table(["step", "spent", "bought", "search draws", "all draws [95%]"], rows,
                        right_from=0))
    if len(b.frontier) > 1:
        first, last = b.frontier[0], b.frontier[-1]
        avoided = first["objective"] - last["objective"]
        spent = last["spent_usd"]
        ratio = f", {avoided / spent:,.2f} avoided per dollar spent" if spent > 0 else ""
        lines.append(f"All draws: {_usd4(first['objective'])} -> {_usd4(last['objective'])}, "
                     f"{_usd4(avoided)} of shortage value avoided for {_usd4(spent)}{ratio} "
                     "(the shortage's tonnes at the reference price, not the damage to the "
                     "economy: a ratio below 1 does not say a stockpile does not pay; "
                     "docs/stockpile.md)")
    lines.append(f"{b.runs:,} runs, {b.draws_run:,} draws simulated in {b.seconds:.1f} s")
    return "\n".join(lines)


def show_text(m: dict, folder="FOLDER") -> str:
    lines = [f"{m['variant']['name']}: {m['kind']} of {m['study']['name']} "
             f"({m['study']['path']}), {m['draws']:,} draws, seed {m['seed']}; "
             f"{m.get('scheme', 'national')} stockpiles "
             + ("reserved for their holders' own use" if m.get("reserved") else
                "selling into their price zone")]
    if m["kind"] == "budget":
        lines.append(f"budget {_usd(m['budget_usd'])}, objective {m['objective']}: "
                     f"{_usd4(m['final']['without'])} -> {_usd4(m['final']['objective'])}")
        rows = [[r["holder"], r["material"], _num(r["tonnes"]), _num(r["release_t_per_month"]),
                 _usd(r["cost_horizon_usd"])] for r in m["allocation"]]
        lines.append(_table(["holder", "material", "tonnes", "t/month", "cost"], rows))
    else:
        t = m["target"]
        lines.append(f"target {t['text']} ({t['label']})")
        few = _few_draws(t["text"], t["quantile"], m["draws"])
        if few:
            lines.append(f"Warning: {few}")
        rows = [[r["kind"], r["holder"], r["material"], r["status"], _num(r["tonnes"]),
                 _num(r["release_t_per_month"]), _usd(r["cost_horizon_usd"]),
                 _stat(t["metric"], r["statistic"])] for r in m["recommendation"]]
        lines.append(_table(["kind", "holder", "material", "status", "tonnes", "t/month",
                             "cost", "statistic"], rows, right_from=4))
    lines.append(f"variant: {_variant_path(m, folder)}; check the results with: "
                 f"supplyshock verify {shell_word(folder)}")
    return "\n".join(lines)
