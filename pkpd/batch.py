"""Compiled batch runs: many subjects of one model in a single call, over all cores.

:func:`solve_batch` loops with ``numba.prange`` over subjects and calls
:func:`pkpd.kernel.solve` for each, so a population (or a block of
sensitivity-analysis samples) costs one call into compiled code and no Python
per subject. The caller chooses the number of threads with
``numba.set_num_threads``.

Ragged per-subject data are passed in CSR form: an offsets array of length
``n_subjects + 1`` into flat arrays. Subject ``i`` owns

- parameters ``P[i]`` (parameters then covariates, as ``CompiledModel.param_vector``),
- doses ``d_*[d_off[i]:d_off[i + 1]]`` (sorted by time; kernel dose codes),
- steady-state reset vectors ``reset_y[r_off[i]:r_off[i + 1]]`` (a dose row of
  type 3 refers to them by its position within the subject's block),
- covariate change times ``cov_t[c_off[i]:c_off[i + 1]]`` with values
  ``cov_v`` (same rows) and interpolation codes ``cov_kind[i]``,
- output times ``times[t_off[i]:t_off[i + 1]]``; its results are written to the
  rows ``o_off[i]:o_off[i] + nt_i`` of ``Y`` and ``O``. Shared output times are
  the case ``t_off = [0, nt, nt, ...]``-style slices of one grid (see
  :func:`shared_offsets`).

Failures are never turned into NaN: ``status[i]`` is the kernel's status code
(0 = ok) and ``t_fail[i]``, ``z_fail[i]`` say where the subject's integration
stopped; the Python layer raises :class:`~pkpd.errors.SimulationError`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import kernel

__all__ = ["solve_batch", "shared_offsets"]


@njit(parallel=True, cache=True)
def solve_batch(fn, n, npar, nout, P, t0, times, t_lo, t_hi, o_off,
                d_off, d_time, d_type, d_cmt, d_amt, d_dur, r_off, reset_y,
                c_off, cov_t, cov_v, cov_kind, method, rtol, atol, hmax, max_steps,
                nonauto, n_rows):
    """Integrate every subject of a batch.

    Returns
    -------
    status (nsub,), t_fail (nsub,), Y (n_rows, n), O (n_rows, nout),
    z_fail (nsub, n), stats (nsub, 5)
    """
    nsub = P.shape[0]
    Y = np.zeros((n_rows, n))
    O = np.zeros((n_rows, nout))
    status = np.zeros(nsub, dtype=np.int64)
    t_fail = np.zeros(nsub)
    z_fail = np.zeros((nsub, n))
    stats = np.zeros((nsub, 5), dtype=np.int64)
    sidx = np.zeros(0, dtype=np.int64)
    for i in prange(nsub):
        a, b = d_off[i], d_off[i + 1]
        ra, rb = r_off[i], r_off[i + 1]
        ca, cb = c_off[i], c_off[i + 1]
        ta, tb = t_lo[i], t_hi[i]
        st, tf, Yi, Oi, _S, _OS, zf, sti = kernel.solve(
            fn, n, npar, nout, P[i], t0[i], times[ta:tb],
            d_time[a:b], d_type[a:b], d_cmt[a:b], d_amt[a:b], d_dur[a:b],
            reset_y[ra:rb], np.zeros((rb - ra, n, 0)),
            cov_t[ca:cb], cov_v[ca:cb], cov_kind[i], method, rtol, atol, hmax, max_steps,
            sidx, nonauto)
        status[i] = st
        t_fail[i] = tf
        for k in range(5):
            stats[i, k] = sti[k]
        if st != 0:
            for j in range(n):
                z_fail[i, j] = zf[j]
            continue
        row = o_off[i]
        for k in range(tb - ta):
            for j in range(n):
                Y[row + k, j] = Yi[k, j]
            for j in range(nout):
                O[row + k, j] = Oi[k, j]
    return status, t_fail, Y, O, z_fail, stats


def shared_offsets(n_subjects: int, n_times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t_lo, t_hi, o_off)`` for subjects that share one output grid."""
    t_lo = np.zeros(n_subjects, dtype=np.int64)
    t_hi = np.full(n_subjects, n_times, dtype=np.int64)
    o_off = np.arange(n_subjects, dtype=np.int64) * n_times
    return t_lo, t_hi, o_off
