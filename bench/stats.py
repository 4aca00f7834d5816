"""patron.stats speed: CB-SEM fit time beside semopy, and the PLS bootstrap.

Run ``.venv/bin/python bench/stats.py`` (``--help`` for options). It prints figures and never asserts a
time.

(a) CB-SEM: a six-construct, 24-item model (six CRM components, four items each, with one structural
    layer: ``success`` is not here, the six constructs are correlated as in a CFA) plus the same model with
    a structural path block, simulated at n = 200, 2,000 and 20,000. Each fit is timed with
    ``patron.stats.sem`` and, if semopy is installed (``pip install semopy``; not a Patron dependency),
    with ``semopy.Model.fit(obj="MLW", solver="L-BFGS-B")`` on the same data; chi2 of both is printed so
    the two can be seen to agree.
(b) PLS-SEM: 5,000 bootstrap resamples of a six-construct -> success model at n = 500 on ``--jobs``
    worker processes (default 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from patron.stats import pls_sem, sem  # noqa: E402
from patron.stats._validation import single_thread_blas  # noqa: E402

COMPONENTS = ["loyalty", "demands", "quality", "orientation", "flexibility", "interaction"]


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    corr = np.full((6, 6), 0.4) + 0.6 * np.eye(6)
    eta = rng.multivariate_normal(np.zeros(6), corr, size=n)
    success = eta @ np.array([0.3, 0.2, 0.25, 0.1, 0.15, 0.2]) + rng.normal(scale=0.6, size=n)
    cols = {}
    for k, name in enumerate([*COMPONENTS, "success"]):
        score = eta[:, k] if k < 6 else success
        for j, lam in enumerate([1.0, 0.9, 0.8, 0.7]):
            # Likert-like 1-5 answers from the continuous response.
            raw = 3 + lam * score + rng.normal(scale=0.7, size=n)
            cols[f"{name}{j + 1}"] = np.clip(np.round(raw), 1, 5)
    return pd.DataFrame(cols)


def cfa_model() -> str:
    return "\n".join(f"{c} =~ " + " + ".join(f"{c}{j}" for j in range(1, 5)) for c in COMPONENTS)


def sem_model() -> str:
    lines = [f"{c} =~ " + " + ".join(f"{c}{j}" for j in range(1, 5)) for c in [*COMPONENTS, "success"]]
    return "\n".join([*lines, "success ~ " + " + ".join(COMPONENTS)])


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def bench_cbsem(sizes: list[int], repeat: int) -> None:
    try:
        import semopy
    except ImportError:
        semopy = None
        print("semopy is not installed: only patron.stats is timed (pip install semopy to compare)")
    print(f"\n(a) CB-SEM ML fit, best of {repeat} (seconds)")
    header = f"{'model':<6} {'n':>7} {'items':>5} {'patron':>9} {'semopy':>9} {'ratio':>6} {'chi2 patron':>12} {'chi2 semopy':>12}"
    print(header)
    for label, model, n_items in (("CFA", cfa_model(), 24), ("SEM", sem_model(), 28)):
        for n in sizes:
            data = simulate(n)
            t_ours, fit = best_of(lambda model=model, data=data: sem(model, data), repeat)
            t_semopy = chi2_semopy = float("nan")
            if semopy is not None:

                def run_semopy(model=model, data=data):
                    m = semopy.Model(model)
                    # Same BLAS threading as patron.stats (one thread) for a like-for-like comparison.
                    with warnings.catch_warnings(), single_thread_blas():
                        warnings.simplefilter("ignore")
                        m.fit(data, obj="MLW", solver="L-BFGS-B")
                    return m

                t_semopy, m = best_of(run_semopy, repeat)
                stats = semopy.calc_stats(m)
                chi2_semopy = float(stats.loc["Value", "chi2"])
            ratio = t_semopy / t_ours if np.isfinite(t_semopy) else float("nan")
            print(
                f"{label:<6} {n:>7} {n_items:>5} {t_ours:>9.4f} {t_semopy:>9.4f} {ratio:>5.1f}x "
                f"{fit.fit['chi2']:>12.3f} {chi2_semopy:>12.3f}"
            )


def bench_pls(n: int, n_boot: int, jobs: int) -> None:
    data = simulate(n)
    model = sem_model()
    start = time.perf_counter()
    fit = pls_sem(model, data)
    t_fit = time.perf_counter() - start
    print(f"\n(b) PLS-SEM, n = {n}, 28 items, 7 constructs: one estimate {t_fit * 1000:.1f} ms")
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        boot = fit.bootstrap(n_boot, seed=1, n_jobs=jobs)
        runs.append(time.perf_counter() - start)
    print(
        f"    bootstrap {n_boot} resamples on {jobs} worker(s): best {min(runs):.2f} s, "
        f"median {statistics.median(runs):.2f} s ({os.cpu_count()} CPUs here)"
    )
    print(boot.paths[["est", "se", "t", "ci_low", "ci_high"]].round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="200,2000,20000", help="CB-SEM sample sizes (comma separated)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions (best is shown)")
    parser.add_argument("--pls-n", type=int, default=500)
    parser.add_argument("--boot", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    bench_cbsem([int(s) for s in args.sizes.split(",")], args.repeat)
    bench_pls(args.pls_n, args.boot, args.jobs)


if __name__ == "__main__":
    main()
