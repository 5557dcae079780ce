"""The first run and the progress bar: "compiling the simulator once" is said exactly
when something is compiled; the bar moves within a chunk, with a rate that leaves the
compile out, and the numbers do not change for being watched."""

from __future__ import annotations

import io

import numpy as np
import pytest

from simcore import api, engine
from tests.studies import CN_REFINING, write_study

# --- the first-run line and the progress bar ----------------------------------------------------


@pytest.fixture
def study(tmp_path, monkeypatch):
    root = write_study(tmp_path, {"tiny-cn.toml": CN_REFINING.format(name="tiny-cn")})
    monkeypatch.chdir(root)
    return root


def test_the_compiling_line_comes_when_the_simulator_is_compiled(study, monkeypatch, capsys):
    from simcore import _numba

    load = engine.load_kernel

    def load_compiling(model):  # as on a first run: the cache has no kernel
        _numba._compiling()
        load(model)

    api.run("scenarios/tiny-cn.toml", draws=10)
    assert api.COMPILING not in capsys.readouterr().err  # loaded from the cache: silent
    monkeypatch.setattr(engine, "load_kernel", load_compiling)
    api.run("scenarios/tiny-cn.toml", draws=10)
    assert capsys.readouterr().err.count(api.COMPILING) == 1
    api.run("scenarios/tiny-cn.toml", draws=10, progress=False)  # -q: silent
    assert capsys.readouterr().err == ""


def test_the_bar_moves_within_a_chunk_and_the_numbers_do_not_change(study, monkeypatch):
    monkeypatch.setattr(engine, "_POLL", 0.001)

    class Watch:
        def __init__(self):
            self.calls = []

        def update(self, n):
            self.calls.append(("written", n))

        def reach(self, done):
            self.calls.append(("reached", done))

        def restart_clock(self):
            self.calls.append(("ready", None))

    watch = Watch()
    watched = api.run("scenarios/tiny-cn.toml", draws=3000, chunk_size=3000, progress=watch)
    plain = api.run("scenarios/tiny-cn.toml", draws=3000, chunk_size=3000, progress=False)
    assert watched.digest == plain.digest
    assert watch.calls[0] == ("ready", None)
    reached = [v for kind, v in watch.calls if kind == "reached"]
    assert reached == sorted(reached) and reached[-1] == 3000
    assert any(0 < v < 3000 for v in reached), "no update within the one chunk"
    assert ("written", 3000) in watch.calls


def test_run_block_watched_on_threads_gives_the_same_numbers(study, monkeypatch):
    monkeypatch.setattr(engine, "_POLL", 0.0005)
    prep = api.prepare("scenarios/tiny-cn.toml")
    model = engine.prepare(prep.tensor, prep.compiled)
    for threads in (1, 2):
        seen = []
        watched = engine.run_block(model, 5, 100, 2000, threads=threads, on_draws=seen.append)
        plain = engine.run_block(model, 5, 100, 2000, threads=threads)
        for name in plain:
            if plain[name] is not None:
                np.testing.assert_array_equal(watched[name], plain[name], err_msg=name)
        assert seen == sorted(seen) and all(0 <= k <= 2000 for k in seen)


def test_the_rate_leaves_out_the_time_before_the_first_draw():
    from simcore.progress import Progress

    stream = io.StringIO()
    bar = Progress(1000, label="x", stream=stream, enabled=True)
    bar.start("compiling the simulator")
    assert "0/1,000 draws" in stream.getvalue() and "compiling the simulator" in stream.getvalue()
    bar._start -= 30.0  # thirty seconds of compiling
    bar.restart_clock()
    bar.reach(500)
    line = bar.line(now=bar._start + 1.0)
    assert "500/1,000 draws" in line and "500 draws/s" in line and "0:01 left" in line
    bar.update(400)  # written lags behind: the bar shows the engine's count
    assert "500/1,000" in bar.line()
    bar.note("a line above")
    assert "a line above\n" in stream.getvalue()
    bar.close()
