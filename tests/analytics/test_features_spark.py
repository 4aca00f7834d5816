"""The feature pipeline gives the same table on Apache Spark as on DuckDB, row for row.

A local one-core Spark session (no UI, no network beyond the loopback, its scratch space under the
test's temporary directory) reads the same Parquet files as DuckDB; the one Ibis expression of
:func:`patron.analytics.features.compute_features` runs on both.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from patron.analytics.features import (
    FEATURE_COLUMNS,
    FeatureInputs,
    compute_features,
    duckdb_inputs,
    to_pandas,
)
from patron.analytics.synthetic import synthetic_tables

AS_OF = datetime(2024, 9, 1)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        import pyspark.sql as pyspark_sql  # under CI a missing pyspark fails the run, never skips it
    else:
        pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None:
        message = "Spark needs a Java runtime: make java (or apt-get install openjdk-17-jre-headless)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    scratch = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = _local_session(pyspark_sql, scratch)
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()


def _local_session(pyspark_sql, scratch):
    return (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("patron-feature-equality")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        # a few hundred rows: interpreted plans and the quick JIT start faster than code generation,
        # adaptive re-planning and the optimising compiler would pay back
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Djava.io.tmpdir={scratch} -Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData",
        )
        .getOrCreate()
    )


def test_spark_and_duckdb_give_the_same_features(spark, tmp_path):
    import ibis

    paths = {}
    for name, table in synthetic_tables(400, seed=11).items():
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(table, paths[name])

    on_duckdb = to_pandas(compute_features(duckdb_inputs(**paths), as_of=AS_OF))

    con = ibis.pyspark.connect(spark)
    inputs = FeatureInputs(
        **{name: con.read_parquet(str(path), table_name=name) for name, path in paths.items()}
    )
    on_spark = to_pandas(compute_features(inputs, as_of=AS_OF))

    assert list(on_spark.columns) == ["customer_id", *FEATURE_COLUMNS]
    assert len(on_duckdb) == 400 and on_duckdb["customer_id"].tolist() == list(range(1, 401))
    # the data set exercises every feature: each column has values and, where it can, missing ones
    assert (on_duckdb["frequency"] > 0).sum() > 300 and on_duckdb["recency_days"].isna().sum() > 0
    assert (on_duckdb["events_30d"] > 0).sum() > 50 and on_duckdb["usage_trend"].notna().sum() > 50
    assert on_duckdb["csat_mean"].notna().sum() > 50 and on_duckdb["nps_last"].notna().sum() > 50
    assert (on_duckdb["tickets_open"] > 0).sum() > 10 and on_duckdb["age"].isna().sum() > 10
    pd.testing.assert_frame_equal(
        on_spark, on_duckdb, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9
    )
