"""Customer analytics at scale: the feature pipeline on DuckDB beside its floor and pandas.

Run ``.venv/bin/python bench/analytics.py`` (``--help`` for options; ``--scale 0.01`` for a quick
run). It prints figures and never asserts a time.

Data: 1,000,000 customers, about 20,000,000 orders (40,000,000 order lines) and 50,000,000 device
events over two years, plus interactions, tickets and NPS answers, drawn by
:func:`patron.analytics.synthetic.synthetic_tables` 50,000 customers at a time and written to Parquet
under ``bench/out/features-<scale>/`` once; later runs reuse the files. ``--scale`` multiplies every
count.

Features section, each contender in a fresh child process (so each peak RSS is its own), all reading
the same Parquet files and producing the same 24 columns for every customer as an Arrow table:

- **ours**: :func:`patron.analytics.features.compute_features` on DuckDB through Ibis;
- **floor**: one hand-written DuckDB SQL query computing the same columns, on the same DuckDB
  settings: what the engine needs without Ibis and our code;
- **pandas**: the same computation with pandas group-bys and merges, on a 10% sample of the
  customers (every row of theirs in every table) and scaled by 10 (``--pandas-fraction``).

The feature tables of ours and of the floor are compared value for value before the figures are
printed. Other sections (clustering, CLV, recommendations) join through :data:`SECTIONS`: when
``bench/analytics_models.py`` defines a ``SECTIONS`` list of ``(name, function(args))`` it is appended.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from patron.analytics.features import (  # noqa: E402
    FEATURE_COLUMNS,
    RETURN_STATUSES,
    SPENDING_STATUSES,
    compute_features,
    duckdb_inputs,
)
from patron.analytics.synthetic import synthetic_tables  # noqa: E402

FULL = {"customers": 1_000_000, "orders_per_customer": 20.0, "events_per_customer": 50.0}
START, END = datetime(2023, 1, 1), datetime(2025, 1, 1)
AS_OF = END
CHUNK = 50_000
TABLES = ("customers", "orders", "order_lines", "events", "interactions", "tickets", "survey_scores")


# --- data -------------------------------------------------------------------------------------------


def data_dir(scale: float) -> Path:
    return ROOT / "bench" / "out" / f"features-{scale:g}"


def generate(scale: float, seed: int = 7) -> Path:
    """Write the seven tables to Parquet once (a ``done.json`` marks a complete set)."""
    folder = data_dir(scale)
    marker = folder / "done.json"
    if marker.is_file():
        counts = json.loads(marker.read_text())
        print(f"data: reusing {folder} ({', '.join(f'{k} {v:,}' for k, v in counts.items())})", flush=True)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    n = max(1, round(FULL["customers"] * scale))
    writers: dict[str, pq.ParquetWriter] = {}
    counts = dict.fromkeys(TABLES, 0)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    for first in range(1, n + 1, CHUNK):
        size = min(CHUNK, n - first + 1)
        tables = synthetic_tables(
            size,
            orders_per_customer=FULL["orders_per_customer"],
            events_per_customer=FULL["events_per_customer"],
            start=START,
            end=END,
            first_customer_id=first,
            seed=int(rng.integers(2**31)),
        )
        for name, table in tables.items():
            table = table.cast(_plain(table.schema))
            if name not in writers:
                writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writers[name].write_table(table, row_group_size=1_000_000)
            counts[name] += table.num_rows
        done = first + size - 1
        print(
            f"\r  generating: {done:,}/{n:,} customers, {counts['orders']:,} orders, "
            f"{counts['events']:,} events ({time.perf_counter() - started:.0f} s)",
            end="",
            flush=True,
        )
    for writer in writers.values():
        writer.close()
    print(flush=True)
    marker.write_text(json.dumps(counts))
    return folder


def _plain(schema: pa.Schema) -> pa.Schema:
    """Dictionary-encoded text as plain strings (the writer needs one schema for every chunk)."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in schema])


# --- the three contenders (each runs in a child process) --------------------------------------------


def run_ours(folder: Path, threads: int) -> pa.Table:
    paths = {name: folder / f"{name}.parquet" for name in TABLES}
    inputs = duckdb_inputs(threads=threads, **paths)
    return compute_features(inputs, as_of=AS_OF).to_pyarrow()


def _floor_sql(folder: Path) -> str:
    def src(name: str) -> str:
        return f"read_parquet('{folder / (name + '.parquet')}')"

    spend = ", ".join(f"'{s}'" for s in SPENDING_STATUSES)
    returns = ", ".join(f"'{s}'" for s in RETURN_STATUSES)
    now = f"TIMESTAMP '{AS_OF:%Y-%m-%d %H:%M:%S}'"
    now_s = int(AS_OF.timestamp()) if AS_OF.tzinfo else int((AS_OF - datetime(1970, 1, 1)).total_seconds())
    d90, d30, d60 = (f"({now} - INTERVAL {d} DAY)" for d in (90, 30, 60))
    return f"""
    WITH o AS (
        SELECT order_id, customer_id, ordered_at, total, channel, status IN ({spend}) AS counted,
               status IN ({returns}) AS returned
        FROM {src("orders")} WHERE ordered_at < {now}
    ), oa AS (
        SELECT customer_id,
               count(*) FILTER (WHERE counted) AS frequency,
               sum(total) FILTER (WHERE counted) AS monetary,
               max(epoch(ordered_at)::BIGINT) FILTER (WHERE counted) AS last_s,
               min(epoch(ordered_at)::BIGINT) AS first_s,
               count(*) FILTER (WHERE counted AND ordered_at >= {d90}) AS orders_90d,
               sum(total) FILTER (WHERE counted AND ordered_at >= {d90}) AS monetary_90d,
               count(*) FILTER (WHERE returned) AS returned,
               count(*) AS all_orders
        FROM o GROUP BY customer_id
    ), ca AS (
        SELECT customer_id, count(channel) AS channels_used
        FROM (SELECT DISTINCT customer_id, channel FROM o WHERE counted) GROUP BY customer_id
    ), la AS (
        SELECT customer_id, sum(items) AS items, count(product_id) AS distinct_products
        FROM (SELECT o.customer_id, l.product_id, sum(l.quantity) AS items
              FROM {src("order_lines")} l JOIN o ON l.order_id = o.order_id WHERE o.counted
              GROUP BY o.customer_id, l.product_id)
        GROUP BY customer_id
    ), e AS (
        SELECT customer_id, ts FROM {src("events")} WHERE ts < {now} AND customer_id IS NOT NULL
    ), da AS (
        SELECT customer_id, count(*) AS active_days_30d
        FROM (SELECT DISTINCT customer_id, ts::DATE FROM e WHERE ts >= {d30}) GROUP BY customer_id
    ), ea AS (
        SELECT customer_id,
               count(*) FILTER (WHERE ts >= {d30}) AS events_30d,
               count(*) FILTER (WHERE ts >= {d60} AND ts < {d30}) AS events_prev,
               max(epoch(ts)::BIGINT) AS last_event_s
        FROM e GROUP BY customer_id
    ), ia AS (
        SELECT customer_id, count(*) AS interactions_90d FROM {src("interactions")}
        WHERE occurred_at < {now} AND occurred_at >= {d90} GROUP BY customer_id
    ), ta AS (
        SELECT customer_id, count(*) AS tickets_total,
               count(*) FILTER (WHERE resolved_at IS NULL OR resolved_at >= {now}) AS tickets_open,
               avg(satisfaction) AS csat_mean
        FROM {src("tickets")} WHERE created_at < {now} GROUP BY customer_id
    ), sa AS (
        SELECT customer_id, arg_max(nps, submitted_at) AS nps_last FROM {src("survey_scores")}
        WHERE submitted_at < {now} AND nps IS NOT NULL GROUP BY customer_id
    )
    SELECT c.customer_id,
        ({now_s} - oa.last_s) / 86400.0 AS recency_days,
        coalesce(oa.frequency, 0) AS frequency,
        coalesce(oa.monetary, 0.0) AS monetary,
        coalesce(oa.monetary, 0.0) / nullif(oa.frequency, 0) AS avg_order_value,
        coalesce(oa.monetary_90d, 0.0) AS monetary_90d,
        coalesce(oa.orders_90d, 0) AS orders_90d,
        coalesce(la.items, 0) / nullif(coalesce(oa.frequency, 0), 0)::DOUBLE AS basket_size,
        coalesce(la.distinct_products, 0) AS distinct_products,
        coalesce(ca.channels_used, 0) AS channels_used,
        oa.returned / nullif(oa.all_orders, 0)::DOUBLE AS return_rate,
        coalesce(greatest(({now_s} - least(epoch(c.created_at)::BIGINT, oa.first_s)) / 86400.0, 0.0), 0.0)
            AS tenure_days,
        coalesce(ea.events_30d, 0) AS events_30d,
        coalesce(da.active_days_30d, 0) AS active_days_30d,
        (coalesce(ea.events_30d, 0) - coalesce(ea.events_prev, 0))
            / nullif(coalesce(ea.events_30d, 0) + coalesce(ea.events_prev, 0), 0)::DOUBLE AS usage_trend,
        ({now_s} - ea.last_event_s) / 86400.0 AS days_since_last_event,
        coalesce(ia.interactions_90d, 0) AS interactions_90d,
        coalesce(ta.tickets_total, 0) AS tickets_total,
        coalesce(ta.tickets_open, 0) AS tickets_open,
        ta.csat_mean,
        sa.nps_last,
        ({AS_OF.year} - c.birth_year)::DOUBLE AS age,
        c.gender, c.income_band
    FROM {src("customers")} c
    LEFT JOIN oa USING (customer_id) LEFT JOIN ca USING (customer_id) LEFT JOIN la USING (customer_id)
    LEFT JOIN ea USING (customer_id) LEFT JOIN da USING (customer_id)
    LEFT JOIN ia USING (customer_id) LEFT JOIN ta USING (customer_id) LEFT JOIN sa USING (customer_id)
    """


def run_floor(folder: Path, threads: int) -> pa.Table:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    result = con.execute(_floor_sql(folder))
    return result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()


def run_pandas(folder: Path, fraction: float) -> pa.Table:
    import pandas as pd

    n = pq.read_metadata(folder / "customers.parquet").num_rows
    last = max(1, round(n * fraction))  # customer ids are 1..n in random order of behaviour

    def read(name: str, column: str = "customer_id") -> pd.DataFrame:
        return pq.read_table(folder / f"{name}.parquet", filters=[(column, "<=", last)]).to_pandas()

    now = pd.Timestamp(AS_OF)
    d90, d60, d30 = (now - pd.Timedelta(days=d) for d in (90, 60, 30))
    customers = read("customers")
    orders = read("orders")
    orders = orders[orders["ordered_at"] < now]
    orders["counted"] = orders["status"].isin(SPENDING_STATUSES)
    orders["returned"] = orders["status"].isin(RETURN_STATUSES)
    counted = orders[orders["counted"]]
    recent = counted[counted["ordered_at"] >= d90]
    by = counted.groupby("customer_id")
    oa = pd.DataFrame(
        {
            "frequency": by.size(),
            "monetary": by["total"].sum(),
            "last": by["ordered_at"].max(),
            "channels_used": by["channel"].nunique(),
        }
    )
    every = orders.groupby("customer_id")
    oa = oa.join(pd.DataFrame({"first": every["ordered_at"].min(), "returned": every["returned"].sum(),
                               "all_orders": every.size()}), how="outer")  # fmt: skip
    oa = oa.join(
        recent.groupby("customer_id").agg(orders_90d=("total", "size"), monetary_90d=("total", "sum"))
    )
    # order ids run in blocks per customer chunk: read the block of the sample's orders, then match
    low, high = int(orders["order_id"].min()), int(orders["order_id"].max())
    lines = pq.read_table(
        folder / "order_lines.parquet", filters=[("order_id", ">=", low), ("order_id", "<=", high)]
    ).to_pandas()
    lines = lines.merge(counted[["order_id", "customer_id"]], on="order_id")
    la = lines.groupby("customer_id").agg(
        items=("quantity", "sum"), distinct_products=("product_id", "nunique")
    )
    events = read("events")
    events = events[events["ts"] < now]
    last30 = events[events["ts"] >= d30]
    prev30 = events[(events["ts"] >= d60) & (events["ts"] < d30)]
    ea = pd.DataFrame(
        {
            "events_30d": last30.groupby("customer_id").size(),
            "active_days_30d": last30["ts"].dt.floor("D").groupby(last30["customer_id"]).nunique(),
            "events_prev": prev30.groupby("customer_id").size(),
            "last_event": events.groupby("customer_id")["ts"].max(),
        }
    )
    contacts = read("interactions")
    contacts = contacts[(contacts["occurred_at"] < now) & (contacts["occurred_at"] >= d90)]
    ia = contacts.groupby("customer_id").size().rename("interactions_90d").to_frame()
    tickets = read("tickets")
    tickets = tickets[tickets["created_at"] < now]
    tickets["open"] = tickets["resolved_at"].isna() | (tickets["resolved_at"] >= now)
    ta = tickets.groupby("customer_id").agg(
        tickets_total=("open", "size"), tickets_open=("open", "sum"), csat_mean=("satisfaction", "mean")
    )
    scores = read("survey_scores")
    scores = scores[(scores["submitted_at"] < now) & scores["nps"].notna()]
    sa = scores.sort_values("submitted_at").groupby("customer_id")["nps"].last().rename("nps_last").to_frame()

    t = customers.set_index("customer_id").join([oa, la, ea, ia, ta, sa])
    day = pd.Timedelta(days=1)
    frequency = t["frequency"].fillna(0).astype("int64")
    monetary = t["monetary"].fillna(0.0)
    per_order = frequency.replace(0, np.nan)
    e30, eprev = t["events_30d"].fillna(0), t["events_prev"].fillna(0)
    started = pd.concat([t["created_at"], t["first"]], axis=1).min(axis=1)
    out = pd.DataFrame(
        {
            "recency_days": (now - t["last"]) / day,
            "frequency": frequency,
            "monetary": monetary,
            "avg_order_value": monetary / per_order,
            "monetary_90d": t["monetary_90d"].fillna(0.0),
            "orders_90d": t["orders_90d"].fillna(0).astype("int64"),
            "basket_size": t["items"].fillna(0) / per_order,
            "distinct_products": t["distinct_products"].fillna(0).astype("int64"),
            "channels_used": t["channels_used"].fillna(0).astype("int64"),
            "return_rate": t["returned"] / t["all_orders"],
            "tenure_days": ((now - started) / day).clip(lower=0).fillna(0.0),
            "events_30d": e30.astype("int64"),
            "active_days_30d": t["active_days_30d"].fillna(0).astype("int64"),
            "usage_trend": (e30 - eprev) / (e30 + eprev).replace(0, np.nan),
            "days_since_last_event": (now - t["last_event"]) / day,
            "interactions_90d": t["interactions_90d"].fillna(0).astype("int64"),
            "tickets_total": t["tickets_total"].fillna(0).astype("int64"),
            "tickets_open": t["tickets_open"].fillna(0).astype("int64"),
            "csat_mean": t["csat_mean"],
            "nps_last": t["nps_last"],
            "age": (AS_OF.year - t["birth_year"]).astype("float64"),
            "gender": t["gender"],
            "income_band": t["income_band"],
        }
    )
    return pa.Table.from_pandas(out.reset_index(), preserve_index=False)


CONTENDERS: dict[str, Callable[..., pa.Table]] = {"ours": run_ours, "floor": run_floor, "pandas": run_pandas}


def _rss_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB, from /proc; getrusage as a fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> None:
    # a child inherits its parent's peak; writing 5 to clear_refs starts the count afresh (Linux)
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def child(name: str, folder: Path, threads: int, fraction: float, out: Path) -> None:
    """Run one contender, write its table to ``out`` and print its figures as JSON."""
    _reset_peak_rss()
    before_mib = _rss_mib("VmRSS")  # the interpreter and the imports
    cpu0 = time.process_time()
    start = time.perf_counter()
    table = run_pandas(folder, fraction) if name == "pandas" else CONTENDERS[name](folder, threads)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    peak_mib = _rss_mib("VmHWM")
    pq.write_table(table, out)
    print(
        json.dumps(
            {"wall": wall, "cpu": cpu, "peak_mib": peak_mib, "before_mib": before_mib, "rows": table.num_rows}
        )
    )


def measure(name: str, folder: Path, args: argparse.Namespace) -> dict:
    out = folder / f"result-{name}.parquet"
    command = [
        sys.executable, __file__, "--child", name, "--scale", str(args.scale), "--threads", str(args.threads),
        "--pandas-fraction", str(args.pandas_fraction),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["out"] = out
    return figures


def compare(ours: Path, other: Path) -> str:
    """Check that two feature tables agree value for value on the other's customers; a line saying so."""
    b = pq.read_table(other).to_pandas().sort_values("customer_id").reset_index(drop=True)
    a = pq.read_table(ours, filters=[("customer_id", "<=", int(b["customer_id"].max()))]).to_pandas()
    a = a.sort_values("customer_id").reset_index(drop=True)
    if list(a.columns) != ["customer_id", *FEATURE_COLUMNS] or list(b.columns) != list(a.columns):
        return f"DIFFERENT COLUMNS: {list(a.columns)} vs {list(b.columns)}"
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9, atol=1e-9)
    except AssertionError as exc:
        return f"DIFFERENT VALUES: {str(exc).splitlines()[0:3]}"
    return f"identical ({len(a):,} rows x {a.shape[1]} columns)"


def bench_features(args: argparse.Namespace) -> None:
    print("== features: compute_features on DuckDB vs one hand-written DuckDB query vs pandas", flush=True)
    folder = generate(args.scale)
    results = {}
    for name in ("ours", "floor", "pandas"):
        results[name] = measure(name, folder, args)
        r = results[name]
        note = f" on a {args.pandas_fraction:.0%} sample" if name == "pandas" else ""
        print(
            f"  {name:<7} {r['wall']:8.2f} s wall {r['cpu']:8.2f} s cpu   peak RSS {r['peak_mib']:7.0f} MiB"
            f" ({r['before_mib']:.0f} before)"
            f"   {r['rows']:,} rows{note}",
            flush=True,
        )
    print(f"  ours vs floor: {compare(results['ours']['out'], results['floor']['out'])}")
    print(f"  ours vs pandas on its sample: {compare(results['ours']['out'], results['pandas']['out'])}")
    ours, floor, pandas = results["ours"], results["floor"], results["pandas"]
    scale_up = 1 / args.pandas_fraction
    print(
        f"  ours / floor:             {ours['wall'] / floor['wall']:6.2f}x wall {ours['cpu'] / floor['cpu']:6.2f}x cpu"
        "   (target <= 1.5x)"
    )
    print(
        f"  pandas (x{scale_up:g}) / ours:      {pandas['wall'] * scale_up / ours['wall']:6.1f}x wall "
        f"{pandas['cpu'] * scale_up / ours['cpu']:6.1f}x cpu   (target >= 10x; pandas scaled to all customers: "
        f"{pandas['wall'] * scale_up:.1f} s wall, {pandas['cpu'] * scale_up:.1f} s cpu)"
    )
    for r in results.values():
        r["out"].unlink(missing_ok=True)


#: the benchmark's sections, run in order: (name, function taking the parsed arguments)
SECTIONS: list[tuple[str, Callable[[argparse.Namespace], None]]] = [("features", bench_features)]


def _more_sections() -> list[tuple[str, Callable[[argparse.Namespace], None]]]:
    path = Path(__file__).with_name("analytics_models.py")
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location("analytics_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, "SECTIONS", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplier of every count (1 = 1M customers)"
    )
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads of ours and of the floor")
    parser.add_argument(
        "--pandas-fraction", type=float, default=0.1, help="share of customers pandas runs on"
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these sections")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder = data_dir(args.scale)
        child(args.child, folder, args.threads, args.pandas_fraction, folder / f"result-{args.child}.parquet")
        return
    for name, run in SECTIONS + _more_sections():
        if args.only is None or name in args.only:
            run(args)


if __name__ == "__main__":
    main()
