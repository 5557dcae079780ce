"""Engine contract: ChunkResult shapes and dtypes, reproducibility (threads, chunks, runs),
keyed random streams, progress, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builders import Capacity, Event, Response, Stockpile, make_scenario, random_tensor

from simcore import engine
from simcore.errors import ScenarioError

FIELDS = ("shortage_t", "peak_share", "months_short", "first_short", "last_short",
          "stock_drawn_t", "price_peak", "price_mean", "bought_t", "restocked_t",
          "commercial_drawn_t", "substituted_t", "demand_given_up_t", "rationed_t",
          "zone_price_peak", "zone_price_mean", "zone_choke_months", "variates", "fired",
          "onset", "series")


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(42)
    tensor = random_tensor(rng, n_k=3, n_s=2, n_c=6)
    events = [
        Event("a", 0, {0: 1, 1: 0}, probability=0.8, onset=("uniform", 0, 6),
              duration=("pert", 1, 4, 12), severity=("uniform", 0.3, 1), leakage=0.1,
              re_export=True, lead=1.0),
        Event("b", 1, {2: 0}, kind="production_outage", probability=0.5,
              onset=("triangular", 0, 2, 8), severity=("beta", 2, 2, 0, 1)),
        Event("c", 2, {0: 0}, parent="a", lag=("uniform", 0, 4), targets=[3, 4],
              probability=0.6),
    ]
    response = Response(reroute_lag=("uniform", 0, 4), spare_ramp=2.0, spare_usable=0.5,
                        substitution_max=0.2, substitution_months=4.0,
                        elasticity=("lognormal", -1.2, 0.3, 0.1, 1.0))
    scenario = make_scenario(tensor, events, response=response, horizon=10,
                             stockpiles=[Stockpile("sp", {(0, 3): (40.0, 4.0)}, 0.5)],
                             capacity=[Capacity("cp", 0, 1, 5, 200.0, online=3.0)],
                             correlation=(["a", "b"], [[1, 0.6], [0.6, 1]]))
    return tensor, scenario


def collect(tensor, scenario, **kw):
    chunks = list(engine.simulate(tensor, scenario, timeseries=True, **kw))
    merged = {f: np.concatenate([getattr(c, f) for c in chunks]) for f in FIELDS}
    merged["hist"] = sum(engine.row_histogram(c) for c in chunks)
    merged["zone_hist"] = sum(c.zone_hist for c in chunks)
    return chunks, merged


def test_chunk_result_contract(case):
    tensor, scenario = case
    ex = engine.exposures(tensor, scenario)
    chunks = list(engine.simulate(tensor, scenario, draws=50, seed=1, chunk_size=20))
    assert [(c.start, c.stop) for c in chunks] == [(0, 20), (20, 40), (40, 50)]
    c = chunks[0]
    from simcore.kernel.structs import NPB

    X, H, V, E = len(ex), scenario.horizon, scenario.n_variates, scenario.n_events
    G = len(engine.zones(tensor, scenario))
    expect = dict(shortage_t=(np.float64, (20, X)), peak_share=(np.float64, (20, X)),
                  months_short=(np.int16, (20, X)), first_short=(np.int16, (20, X)),
                  last_short=(np.int16, (20, X)), stock_drawn_t=(np.float64, (20, X)),
                  price_peak=(np.float64, (20, X)), price_mean=(np.float64, (20, X)),
                  variates=(np.float64, (20, V)), fired=(np.bool_, (20, E)),
                  onset=(np.int32, (20, E)), zone_short_hist=(np.int64, (G, H, 101)),
                  row_zone=(np.int64, (X,)),
                  bought_t=(np.float64, (20, X)), rationed_t=(np.float64, (20, X)),
                  zone_price_peak=(np.float64, (20, G)),
                  zone_choke_months=(np.int16, (20, G)),
                  zone_hist=(np.int64, (G, H, NPB)))
    for f, (dtype, shape) in expect.items():
        a = getattr(c, f)
        assert a.dtype == dtype and a.shape == shape, f
    assert c.series is None and c.zone_series is None
    # simulate's chunks give the rows' histogram by zone: the same as run_block's rows
    assert c.hist is None and c.holder_short_hist.shape == (len(c.holder_rows), H, 101)
    assert len(c.holder_rows) and ((0 <= c.holder_rows) & (c.holder_rows < X)).all()
    hist = engine.row_histogram(c)
    assert hist.dtype == np.int64 and hist.shape == (X, H, 101)
    block = engine.run_block(engine.prepare(tensor, scenario), 1, 0, 20)
    np.testing.assert_array_equal(hist, block["hist"])
    assert (hist.sum(axis=2) == 20).all() and (c.zone_hist.sum(axis=2) == 20).all()
    assert (c.onset[~c.fired] == -1).all() and (c.onset[c.fired] >= 0).all()
    assert ex.material.dtype == np.int32 and ex.need_t.dtype == np.float64


def test_a_world_without_state_stocks_gives_its_histogram_by_zone(tmp_path):
    """No state stock anywhere and no stockpile: the kernel still keeps one holder row
    (its arrays have one at least), which the chunk leaves out; the rows' histogram is
    run_block's, and the writer takes the chunks (a review found it refused them)."""
    from simcore import results as R

    tensor = random_tensor(np.random.default_rng(5), n_k=2, n_s=2, n_c=5, stocks=False)
    events = [Event("a", 0, {0: 1, 1: 0}, probability=0.9, onset=("uniform", 0, 3),
                    severity=("uniform", 0.5, 1))]
    scenario = make_scenario(tensor, events, horizon=6)
    chunks = list(engine.simulate(tensor, scenario, draws=30, seed=4, chunk_size=16))
    block = engine.run_block(engine.prepare(tensor, scenario), 4, 0, 16)
    c = chunks[0]
    assert c.hist is None and c.holder_rows.shape == (0,)
    assert c.holder_short_hist.shape == (0, 6, 101)
    np.testing.assert_array_equal(engine.row_histogram(c), block["hist"])
    layout = R.Layout.from_exposures(tensor, scenario, engine.exposures(tensor, scenario),
                                     engine.zones(tensor, scenario))
    rows = [dataclasses.replace(c, hist=engine.row_histogram(c), zone_short_hist=None)
            for c in chunks]
    digests = []
    for name, given in (("by-zone", chunks), ("by-row", rows)):
        (tmp_path / name).mkdir()
        manifest = R.write_chunks(tmp_path / name, layout, iter(given), {"format": R.FORMAT}, 30)
        digests.append(manifest["digest"]["sha256"])
    assert digests[0] == digests[1]


def test_bit_identical_across_threads_chunks_and_runs(case):
    tensor, scenario = case
    _, one = collect(tensor, scenario, draws=97, seed=5, threads=1, chunk_size=97)
    _, two = collect(tensor, scenario, draws=97, seed=5, threads=2, chunk_size=97)
    _, uneven = collect(tensor, scenario, draws=97, seed=5, threads=2, chunk_size=13)
    _, again = collect(tensor, scenario, draws=97, seed=5, threads=2, chunk_size=40)
    for other in (two, uneven, again):
        for f in (*FIELDS, "hist", "zone_hist"):
            np.testing.assert_array_equal(one[f], other[f], err_msg=f)
    assert one["shortage_t"].sum() > 0  # the scenario does something
    _, seed6 = collect(tensor, scenario, draws=97, seed=6, threads=1)
    assert not np.array_equal(one["variates"], seed6["variates"])


def test_output_arrays_are_reused_only_once_let_go(case):
    """simulate() reuses the output arrays of a chunk its caller has let go of (no
    reference to the chunk or to any view of it is left), and never those of a chunk
    still held: the numbers are the same either way."""
    tensor, scenario = case
    kw = dict(draws=100, seed=5, chunk_size=20, threads=2)
    _, held = collect(tensor, scenario, **kw)
    kw["timeseries"] = True
    addresses = [a for a, _ in _let_go(tensor, scenario, held, **kw)]
    # chunk i's arrays come back at chunk i + 2 (block i + 1 is queued to the kernel
    # before chunk i is handed out)
    assert addresses[2] == addresses[0] and addresses[3] == addresses[1]
    kept = list(engine.simulate(tensor, scenario, **kw))
    views = [c.shortage_t[:5] for c in engine.simulate(tensor, scenario, **kw)]
    for chunks in (kept, [v.base for v in views]):
        assert len({c.ctypes.data if isinstance(c, np.ndarray) else c.shortage_t.ctypes.data
                    for c in chunks}) == 5


def _let_go(tensor, scenario, held, **kw) -> list:
    """Run ``simulate`` letting go of each chunk once copied: the addresses of each
    chunk's shortage and series arrays; the copies must be ``held``'s numbers."""
    addresses, merged = [], {f: [] for f in FIELDS}
    for chunk in engine.simulate(tensor, scenario, **kw):
        addresses.append((chunk.shortage_t.ctypes.data, chunk.series.ctypes.data))
        for f in FIELDS:
            merged[f].append(np.array(getattr(chunk, f)))
        del chunk
    for f in FIELDS:
        np.testing.assert_array_equal(np.concatenate(merged[f]), held[f], err_msg=f)
    return addresses


def test_the_last_shorter_blocks_reuse_the_first_rows_of_larger_arrays(case):
    """The last blocks of a run are shorter (_spans); they take the first rows of the
    arrays of a larger block let go of, not fresh arrays (whose page faults cost the
    kernel's threads), with the same numbers, and never those of a chunk still held
    through a view."""
    tensor, scenario = case
    kw = dict(draws=1000, seed=5, chunk_size=256, threads=2)
    assert [n for _, n in engine._spans(1000, 256)] == [256, 256, 256, 116, 116]
    _, held = collect(tensor, scenario, **kw)
    addresses = _let_go(tensor, scenario, held, timeseries=True, **kw)
    assert addresses[3] == addresses[1] and addresses[4] == addresses[2]
    views = [c.shortage_t[:5] for c in engine.simulate(tensor, scenario, **kw)]
    assert len({v.ctypes.data for v in views}) == 5


def test_draws_are_keyed_by_name_not_position(case):
    tensor, scenario = case
    extra = Event("unrelated", 5, {2: 0}, onset=("uniform", 0, 3), severity=("uniform", 0, 1))
    events = [
        Event("z_first", 4, {1: 0}, severity=("uniform", 0, 1)),  # shifts every position
    ]
    rebuilt = make_scenario(tensor, [*events, *_events_of(case), extra],
                            response=_response_of(), horizon=10)
    base = make_scenario(tensor, _events_of(case), response=_response_of(), horizon=10)
    a = next(iter(engine.simulate(tensor, base, draws=64, seed=9)))
    b = next(iter(engine.simulate(tensor, rebuilt, draws=64, seed=9)))
    for v, name in enumerate(base.var_name):
        w = rebuilt.var_name.index(name)
        np.testing.assert_array_equal(a.variates[:, v], b.variates[:, w], err_msg=name)


def _events_of(case):
    return [Event("a", 0, {0: 1}, probability=0.8, onset=("uniform", 0, 6),
                  severity=("pert", 0.2, 0.5, 1.0)),
            Event("b", 1, {2: 0}, probability=0.5, severity=("uniform", 0, 1))]


def _response_of():
    return Response(reroute_lag=("uniform", 0, 4), elasticity=0.3)


def test_timeseries_matches_hist_and_summaries(case):
    tensor, scenario = case
    c = next(iter(engine.simulate(tensor, scenario, draws=40, seed=2, timeseries=True)))
    share = c.series.astype(np.float64)
    assert c.series.dtype == np.float32 and c.series.shape == (40, c.shortage_t.shape[1], 10)
    np.testing.assert_allclose(share.max(axis=2), c.peak_share, rtol=1e-6)
    assert ((share > 1e-10).sum(axis=0) == engine.row_histogram(c)[:, :, 1:].sum(axis=2)).all()


def test_progress_and_defaults(case):
    tensor, scenario = case
    seen = []
    chunks = list(engine.simulate(tensor, scenario, chunk_size=30,
                                  progress=lambda d, t: seen.append((d, t))))
    # 0 when simulating starts, then never backwards, and every chunk's end
    # (scenario default draws = 64); more calls within a chunk on a slow machine
    assert seen[0] == (0, 64) and {(30, 64), (60, 64)} <= set(seen) and seen[-1] == (64, 64)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    again = next(iter(engine.simulate(tensor, scenario, seed=scenario.seed, draws=30)))
    np.testing.assert_array_equal(chunks[0].variates, again.variates)


def test_zero_draws_and_errors(case):
    tensor, scenario = case
    assert list(engine.simulate(tensor, scenario, draws=0)) == []
    with pytest.raises(ScenarioError, match="seed"):
        engine.simulate(tensor, scenario, seed=-1)
    other = dataclasses.replace(scenario, dataset_hash="f" * 64)
    with pytest.raises(ScenarioError, match="compile it again"):
        engine.simulate(tensor, other)
    bad = dataclasses.replace(scenario, ev_targets=np.zeros((3, 2), bool))
    with pytest.raises(ScenarioError, match="ev_targets"):
        engine.simulate(tensor, bad)


def test_kernel_status_becomes_an_error(case):
    tensor, scenario = case
    par = scenario.var_par.copy()
    par[0] = (np.nan, np.nan, 0, 0)  # a NaN uniform bound
    bad = dataclasses.replace(scenario, var_par=par)
    with pytest.raises(RuntimeError, match="NaN"):
        list(engine.simulate(tensor, bad, draws=3))
    # with the next block already queued: the error, and no kernel thread left behind
    before = _kernel_threads()
    with pytest.raises(RuntimeError, match="NaN"):
        list(engine.simulate(tensor, bad, draws=60, chunk_size=20, threads=2))
    assert _kernel_threads() == before


def _kernel_threads() -> int:
    import threading

    return sum(t.name.startswith("supplyshock-kernel") for t in threading.enumerate())


def test_blocks_cover_the_draws_and_end_small():
    for draws, size in ((10_000, 2048), (2048, 2048), (4096, 2048), (50, 20), (100, 16),
                        (1, 1), (7, 2), (0, 5), (1000, 100), (3000, 2000)):
        spans = list(engine._spans(draws, size))
        assert [a for a, _ in spans] == list(np.cumsum([0] + [n for _, n in spans])[:-1])
        assert sum(n for _, n in spans) == draws and all(0 < n <= size for _, n in spans)
        if draws <= size:
            assert len(spans) <= 1  # one block stays one block
    sizes = [n for _, n in engine._spans(10_000, 2048)]
    assert sizes == [2048] * 4 + [904, 452, 452]  # the writer is left 452 draws, not 1,808
    assert [n for _, n in engine._spans(50, 20)] == [20, 20, 10]  # no block under 64 draws


def test_zone_histograms_count_every_bin():
    """The block's zone histograms, and the state-stock holders' differences from their
    zones', against a count by hand of random bins, the first and last bin of each
    column included, in arrays of an earlier block reused (zeroed)."""
    from simcore.kernel.structs import NPB

    rng = np.random.default_rng(3)
    n, n_g, H = 37, 5, 4
    zone_bins = np.empty((n, n_g, H, 2), dtype=np.int16)
    zone_bins[..., 0] = rng.integers(0, NPB, size=(n, n_g, H))
    zone_bins[..., 1] = rng.integers(0, 101, size=(n, n_g, H))
    zone_bins[0, 0, 0] = (0, 0)
    zone_bins[1, 0, 0] = (NPB - 1, 100)
    n_h = 3
    holder_bins = rng.integers(0, 101, size=(n, n_h, H, 2)).astype(np.int16)
    holder_bins[rng.random((n, n_h, H)) < 0.5] = 0  # months the row is its zone's
    holder_bins[2, 1, 3] = (100, 0)  # shorter than its zone, and longer
    holder_bins[3, 2, 3] = (0, 100)
    holder_bins[4, 1, 3] = (1, 1)  # not written so by the kernel: nothing to count
    shapes = ((n_g, H, NPB), (n_g, H, 101), (n_h, H, 101), (3, H, 101))
    pool: list = []
    stale = engine._count_arrays(pool, shapes)
    for a in stale:
        a[...] = 7  # an earlier block's counts, let go of below
    held = engine._count_arrays(pool, shapes)  # another block's, still held
    first = id(stale[0])  # not a reference: one would keep it from reuse
    del stale, a
    price, short, holder_short, _ = engine._count_arrays(pool, shapes)
    assert id(price) == first and not any(price is a for a in held)  # reused, not held
    engine._zone_histograms(zone_bins, price, short, holder_bins, holder_short)
    want_price = np.zeros((n_g, H, NPB), dtype=np.int64)
    want_short = np.zeros((n_g, H, 101), dtype=np.int64)
    for j, g, t in np.ndindex(n, n_g, H):
        want_price[g, t, zone_bins[j, g, t, 0]] += 1
        want_short[g, t, zone_bins[j, g, t, 1]] += 1
    want_holder = np.zeros((n_h, H, 101), dtype=np.int64)
    for j, h, t in np.ndindex(n, n_h, H):
        own, zone = holder_bins[j, h, t]
        if own != zone:
            want_holder[h, t, own] += 1
            want_holder[h, t, zone] -= 1
    want_holder[:, :, 0] = 0  # bin 0 is left to the caller (what the others leave of n)
    assert price.dtype == short.dtype == holder_short.dtype == np.int64
    np.testing.assert_array_equal(price, want_price)
    np.testing.assert_array_equal(short, want_short)
    np.testing.assert_array_equal(holder_short, want_holder)
    assert holder_short[1, 3, 100] >= 1 and holder_short[2, 3, 100] <= -1


def test_a_run_let_go_early_stops_its_kernel_threads(case):
    """Leaving a run after its first chunk cancels the block queued behind it."""
    tensor, scenario = case
    before = _kernel_threads()
    run = engine.simulate(tensor, scenario, draws=400, seed=5, chunk_size=40, threads=2)
    first = next(run)
    run.close()
    assert _kernel_threads() == before
    _, whole = collect(tensor, scenario, draws=40, seed=5, threads=1)
    np.testing.assert_array_equal(first.shortage_t, whole["shortage_t"])


def _fresh_python(code: str, **env: str) -> str:
    """What ``code`` prints in a new interpreter, with ``env`` added to the environment."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, **env))
    return out.stdout.strip()


def test_importing_engine_does_not_import_numba():
    code = "import sys, simcore.engine; print('numba' in sys.modules)"
    assert _fresh_python(code) == "False"


def test_default_threads_is_numbas_count_without_launching_its_thread_pool():
    """The engine's default thread count is what numba.get_num_threads() says, from
    NUMBA_NUM_THREADS before anything launched Numba's threading layer (the engine never
    uses it), from set_num_threads after."""
    code = (
        "from numba.np.ufunc import parallel\n"
        "import numba\n"
        "from simcore.engine import default_threads\n"
        "a = default_threads()\n"
        "launched = parallel._is_initialized\n"
        "numba.set_num_threads(1)\n"
        "print(a, launched, default_threads(), numba.get_num_threads())\n"
    )
    assert _fresh_python(code, NUMBA_NUM_THREADS="3").split() == ["3", "False", "1", "1"]


def test_a_zone_of_a_groups_members_taking_part_is_named_by_the_group():
    """A zone that holds exactly the members of a group that take part in the (material,
    stage) is named by the group (DyTb's refining partners were 'rest', beside
    'MMR+VNM+LAO+ROW'); the largest other zone is then 'rest'. A group with one member
    taking part names nothing (the country's code does)."""
    from types import SimpleNamespace

    countries = ("CHN", "USA", "DEU", "JPN", "MMR", "ROW", "FRA")
    tensor = SimpleNamespace(countries=countries,
                             groups={"G1": ("USA", "FRA"),
                                     "partners": ("USA", "DEU", "JPN", "FRA")})
    compiled = SimpleNamespace(extra={})
    names = engine._zone_names(tensor, compiled, [[0], [1, 2, 3], [4, 5]])
    assert names == ["CHN", "partners", "rest"]
    assert engine._zone_names(tensor, compiled, [[0], [1, 2, 3, 6], [4, 5]]) == [
        "CHN", "partners", "rest"]  # the whole group
    bare = SimpleNamespace(countries=countries, groups={})
    assert engine._zone_names(bare, compiled, [[0], [1, 2, 3], [4, 5]]) == [
        "CHN", "rest", "MMR+ROW"]
    assert engine._zone_names(tensor, compiled, [[0], [1], [2, 3, 4, 5]]) == [
        "CHN", "USA", "rest"]
    # several groups fit: the scenario's own first, then the smallest, whatever the
    # dataset's order (OECD listed before partners)
    wide = SimpleNamespace(countries=countries, groups={
        "OECD": ("USA", "DEU", "JPN", "FRA", "ROW"), "partners": ("USA", "DEU", "JPN", "FRA")})
    assert engine._zone_names(wide, compiled, [[0], [1, 2, 3], [4], [5]])[1] == "partners"
    mine = SimpleNamespace(extra={"group_members": {"concern": (1, 2, 3, 6)}})
    assert engine._zone_names(wide, mine, [[0], [1, 2, 3], [4], [5]])[1] == "concern"
