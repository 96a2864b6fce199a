"""The reference solver (``scipy.optimize.minimize(method="SLSQP")``) and a time-guarded worker process.

SLSQP solves the same problem as ``allocate``: minimize ``-sum(value)`` with its analytic
gradient, subject to ``sum(spend) = total`` and the per-campaign box (max-change intersected
with the lower/upper bounds), starting from the current budgets (feasible). Options are
scipy's defaults (``ftol=1e-6`` on the unscaled objective) with ``maxiter=1000``; on these
problems that converges to within ~1e-9 of the optimum.

Its cost grows roughly with the cube of the number of campaigns (dense quasi-Newton
matrices), so every run has a time limit, enforced twice: a callback stops it after the
limit (between iterations), and the worker process running it is killed if an iteration
alone overruns.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from contextlib import contextmanager

import numpy as np
from scipy.optimize import Bounds, minimize

FTOL = 1e-6  # scipy's default
MAX_ITER = 1000
# The worker runs with one BLAS thread: allocate is single-threaded numpy, so both solvers
# get one core (and SLSQP is not slowed by thread contention on a busy machine).
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
KILL_GRACE = 15.0  # seconds past the time limit before the worker is killed


class _TimeUp(Exception):
    """Raised by the callback once the time limit has passed."""


def solve_slsqp(vmax, half, shape, lower, upper, total, x0, time_limit=60.0, repeat_budget=0.0, max_repeats=5):
    """Run SLSQP (best of up to ``max_repeats`` runs while they fit in ``repeat_budget`` seconds).

    Returns a dict: ``seconds`` (best wall time of ``minimize`` alone), ``repeats``, ``spend``,
    ``nit``, ``success``, ``message``, ``timed_out`` (stopped by the time limit; ``spend`` is
    then the last iterate), ``sum_violation`` (relative) and ``bound_violation``.
    """
    vmax, half, shape, lower, upper, x0 = (np.asarray(a, dtype=float) for a in (vmax, half, shape, lower, upper, x0))
    ones = np.ones_like(x0)

    def objective(s):
        s = np.maximum(s, 1e-300)
        r = (half / s) ** shape
        with np.errstate(divide="ignore", invalid="ignore"):
            gradient = vmax * shape / (s * (2.0 + r + 1.0 / r))
        return -float(np.sum(vmax / (1.0 + r))), -np.nan_to_num(gradient)

    constraint = {"type": "eq", "fun": lambda s: float(s.sum()) - total, "jac": lambda s: ones}

    def once():
        state = {"x": x0, "nit": 0}
        start = time.perf_counter()

        def callback(arg):
            state["x"], state["nit"] = np.array(getattr(arg, "x", arg)), state["nit"] + 1
            if time.perf_counter() - start > time_limit:
                raise _TimeUp

        try:
            result = minimize(
                objective,
                x0,
                jac=True,
                method="SLSQP",
                bounds=Bounds(lower, upper),
                constraints=[constraint],
                callback=callback,
                options={"ftol": FTOL, "maxiter": MAX_ITER},
            )
        except _TimeUp:
            return time.perf_counter() - start, state["x"], state["nit"], False, "stopped at the time limit", True
        seconds = time.perf_counter() - start
        return seconds, result.x, int(result.nit), bool(result.success), str(result.message), False

    seconds, spend, nit, success, message, timed_out = once()
    repeats = 1
    while not timed_out and repeats < max_repeats and (repeats + 1) * seconds <= repeat_budget:
        seconds = min(seconds, once()[0])
        repeats += 1
    return {
        "seconds": seconds,
        "repeats": repeats,
        "spend": spend,
        "nit": nit,
        "success": success,
        "message": message,
        "timed_out": timed_out,
        "sum_violation": abs(float(spend.sum()) - total) / max(total, 1e-300),
        "bound_violation": float(np.max(np.maximum(lower - spend, 0.0) + np.maximum(spend - upper, 0.0))),
    }


@contextmanager
def _environment(values: dict[str, str]):
    """Temporarily set environment variables (a spawned process inherits them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _serve(conn) -> None:
    """Worker loop: call each ``(function, args, kwargs)`` received, send back ``(ok, result)``."""
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        function, args, kwargs = message
        try:
            conn.send((True, function(*args, **kwargs)))
        except BaseException:  # noqa: BLE001 - reported to the parent
            conn.send((False, traceback.format_exc()))


class Worker:
    """A fresh (spawned) Python process that runs one call at a time and is killed when a call overruns."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = dict(SINGLE_THREAD_ENV if env is None else env)
        self._process = None
        self._conn = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        with _environment(self.env):
            self._process = context.Process(target=_serve, args=(child,), daemon=True, name="bench-worker")
            self._process.start()
        child.close()

    def call(self, function, *args, timeout: float, **kwargs):
        """``function(*args, **kwargs)`` in the worker; ``None`` (and the worker killed) after ``timeout`` s.

        ``function`` must be importable by name (a module-level function). Exceptions in the
        worker raise ``RuntimeError`` here with the worker's traceback.
        """
        if self._process is None or not self._process.is_alive():
            self._start()
        self._conn.send((function, args, kwargs))
        if not self._conn.poll(timeout):
            self.kill()
            return None
        ok, result = self._conn.recv()
        if not ok:
            raise RuntimeError(f"benchmark worker failed:\n{result}")
        return result

    def kill(self) -> None:
        """Stop the worker at once (the next call starts a new one)."""
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._conn.close()
        self._process = self._conn = None

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self._process is None:
            return
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(5)
        self.kill()
