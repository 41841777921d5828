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

from . import kernel

__all__ = ["solve_batch", "shared_offsets"]


# solve_batch lives in pkpd.kernel (see the note there) and is re-exported here.
solve_batch = kernel.solve_batch


def shared_offsets(n_subjects: int, n_times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t_lo, t_hi, o_off)`` for subjects that share one output grid."""
    t_lo = np.zeros(n_subjects, dtype=np.int64)
    t_hi = np.full(n_subjects, n_times, dtype=np.int64)
    o_off = np.arange(n_subjects, dtype=np.int64) * n_times
    return t_lo, t_hi, o_off
