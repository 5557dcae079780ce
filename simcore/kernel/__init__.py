"""The Numba core of the simulator: random streams, market allocation, the monthly model.

Modules (imports point downstream, and only numpy, numba and ``simcore._numba``):

- ``rng``: counter-based uniforms keyed by (seed, variate key, draw) and the inverse CDFs
  of every distribution code of ``simcore.compiled``.
- ``allocation``: the exact lexicographically max-min fair max-flow allocation D*.
- ``model``: one draw of MODEL.md §2-§5 and the block kernel, parallel over draws.
- ``binsums``: sums, counts and histogram quantiles over draws for the run summary, the
  monthly and price tables and the report's sensitivity bootstrap (not part of the
  model; here so that it is compiled ahead of time with the kernel).

Nothing here reads files, prints, or raises on model states: kernels set an integer
status that ``simcore.engine`` turns into an exception.
"""
