"""The organisation's customer feature table: the app's records run through
:func:`patron.analytics.features.compute_features` on DuckDB.

``build_feature_table`` reads the organisation's customers, orders, order lines, interactions,
tickets and survey NPS answers through SQLAlchemy (streamed in chunks straight into Arrow columns,
never as ORM objects) and, when an event store is given, its device events, and returns the
features as a DataFrame. It is :func:`read_feature_inputs` (the reading, once) followed by
:func:`feature_table_at` (the computing, as of one moment); a caller needing the table as of several
moments calls those two itself. ``materialise`` writes it to ``{data_dir}/features/org-{id}.parquet``;
``load_feature_table`` reads that file back.

The rows are read column-wise from the other domains' tables in one place on purpose: the feature
table is a read-only bulk export, and going through each domain's list functions would build an
ORM object per row. Every query filters on ``org_id``; erased and merged customers are left out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.analytics.features import FEATURE_COLUMNS, FeatureInputs, compute_features, duckdb_inputs
from patron.core.config import Settings
from patron.core.errors import Invalid
from patron.customers.models import Customer
from patron.interactions.models import Interaction
from patron.orders.models import Order, OrderLine
from patron.surveys import service as surveys_service
from patron.surveys.models import Survey, SurveyResponse
from patron.tickets.models import Ticket

__all__ = [
    "build_feature_table",
    "feature_table_at",
    "feature_table_path",
    "load_feature_table",
    "materialise",
    "read_feature_inputs",
]

#: rows fetched from the database per round trip
CHUNK_ROWS = 50_000
#: DuckDB threads for the feature query (the app shares the machine with the web workers)
DUCKDB_THREADS = 2

_TS = pa.timestamp("us", tz="UTC")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _column(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    if type_ == _TS:  # Arrow takes aware datetimes to UTC and naive ones as UTC already
        return pa.array(values, type=_TS).cast(pa.timestamp("us"))
    if pa.types.is_floating(type_):
        return pa.array([None if v is None else float(v) for v in values], type=type_)
    return pa.array(values, type=type_)


def _read(session: Session, query: Select, schema: pa.Schema) -> pa.Table:
    """Stream the query's rows in chunks into an Arrow table of the given schema (one column per
    selected expression, in order; timestamps become naive UTC)."""
    out_schema = pa.schema(
        [pa.field(f.name, pa.timestamp("us") if f.type == _TS else f.type) for f in schema]
    )
    batches = []
    # a Core execution on the session's connection: plain rows, without the ORM's result processing
    result = session.connection().execute(query.execution_options(yield_per=CHUNK_ROWS))
    for rows in result.partitions():
        columns = list(zip(*rows, strict=True))
        arrays = [_column(columns[i], field.type) for i, field in enumerate(schema)]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=out_schema))
    return pa.Table.from_batches(batches, schema=out_schema)


def _customers(session: Session, org_id: int) -> pa.Table:
    query = select(
        Customer.id, Customer.birth_year, Customer.gender, Customer.income_band, Customer.created_at
    ).where(Customer.org_id == org_id, Customer.erased_at.is_(None), Customer.merged_into_id.is_(None))
    schema = pa.schema(
        [
            ("customer_id", pa.int64()),
            ("birth_year", pa.int64()),
            ("gender", pa.string()),
            ("income_band", pa.string()),
            ("created_at", _TS),
        ]
    )
    return _read(session, query, schema)


def _orders(session: Session, org_id: int) -> pa.Table:
    query = select(
        Order.id, Order.customer_id, Order.ordered_at, Order.total, Order.status, Order.channel
    ).where(Order.org_id == org_id)
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ordered_at", _TS),
            ("total", pa.float64()),
            ("status", pa.string()),
            ("channel", pa.string()),
        ]
    )
    return _read(session, query, schema)


def _order_lines(session: Session, org_id: int) -> pa.Table:
    query = select(OrderLine.order_id, OrderLine.product_id, OrderLine.quantity, OrderLine.line_total).where(
        OrderLine.org_id == org_id
    )
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("product_id", pa.int64()),
            ("quantity", pa.int64()),
            ("line_total", pa.float64()),
        ]
    )
    return _read(session, query, schema)


def _interactions(session: Session, org_id: int) -> pa.Table:
    query = select(
        Interaction.customer_id, Interaction.kind, Interaction.channel, Interaction.occurred_at
    ).where(Interaction.org_id == org_id)
    schema = pa.schema(
        [("customer_id", pa.int64()), ("kind", pa.string()), ("channel", pa.string()), ("occurred_at", _TS)]
    )
    return _read(session, query, schema)


def _tickets(session: Session, org_id: int) -> pa.Table:
    # a ticket stops being open when it is resolved, or closed without a resolution
    query = select(
        Ticket.customer_id, Ticket.created_at, Ticket.resolved_at, Ticket.closed_at, Ticket.satisfaction
    ).where(Ticket.org_id == org_id)
    schema = pa.schema(
        [
            ("customer_id", pa.int64()),
            ("created_at", _TS),
            ("resolved_at", _TS),
            ("closed_at", _TS),
            ("satisfaction", pa.float64()),
        ]
    )
    table = _read(session, query, schema)
    done = pc.coalesce(table["resolved_at"], table["closed_at"])
    return table.drop_columns(["closed_at"]).set_column(2, "resolved_at", done)


def _survey_scores(session: Session, org_id: int) -> pa.Table:
    """Each customer answer to a survey's NPS item (the first item of kind ``nps``)."""
    customer_ids: list[int] = []
    scores: list[float | None] = []
    moments: list[datetime] = []
    for survey in session.scalars(select(Survey).where(Survey.org_id == org_id)):
        code = surveys_service.nps_item(surveys_service.questionnaire(survey))
        if code is None:
            continue
        query = select(SurveyResponse.customer_id, SurveyResponse.answers, SurveyResponse.submitted_at).where(
            SurveyResponse.org_id == org_id,
            SurveyResponse.survey_id == survey.id,
            SurveyResponse.customer_id.is_not(None),
        )
        for customer_id, answers, submitted_at in session.execute(
            query.execution_options(yield_per=CHUNK_ROWS)
        ):
            value = (answers or {}).get(code)
            if isinstance(value, int | float) and not isinstance(value, bool):
                customer_ids.append(customer_id)
                scores.append(float(value))
                moments.append(submitted_at)
    return pa.table(
        {
            "customer_id": pa.array(customer_ids, type=pa.int64()),
            "nps": pa.array(scores, type=pa.float64()),
            "submitted_at": _column(moments, _TS),
        }
    )


def _events(events_store: Any, org_id: int, until: datetime | None) -> pa.Table:
    """The organisation's customer events (before ``until``, when given; ``ts`` is naive UTC)."""
    cursor = events_store.cursor()
    try:
        query = (
            "SELECT customer_id::BIGINT AS customer_id, type, ts FROM events "
            "WHERE org_id = $org_id AND customer_id IS NOT NULL"
        )
        params: dict[str, Any] = {"org_id": org_id}
        if until is not None:
            query += " AND ts < $until"
            params["until"] = until.replace(tzinfo=None)
        relation = cursor.sql(query, params=params)
        # DuckDB 1.4 added to_arrow_table; before it, arrow() returned the table
        return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    finally:
        cursor.close()


def read_feature_inputs(
    session: Session,
    *,
    org_id: int,
    events_store: Any = None,
    until: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> FeatureInputs:
    """Read the organisation's records (and device events) once, for one or more feature tables.

    The result is a set of in-memory tables on a DuckDB connection; :func:`feature_table_at` computes
    the feature table as of any moment from it, so a caller that needs the features at several
    moments (the churn model's cutoffs) reads the database only once.

    Parameters
    ----------
    session : Session
        Database session; only reads.
    org_id : int
        The organisation; nothing of another one is read.
    events_store : patron.events.store.EventStore, optional
        The device event store (or a DuckDB connection to its file); without it the usage features
        are 0 or null.
    until : datetime, optional
        Device events at or after this moment are not read (no feature table asked of these
        inputs may describe a later moment); default all of them.
    progress : callable, optional
        Called with a short message as each input is read.
    """
    say = progress or (lambda _message: None)
    readers: dict[str, Callable[[], pa.Table]] = {
        "customers": lambda: _customers(session, org_id),
        "orders": lambda: _orders(session, org_id),
        "order_lines": lambda: _order_lines(session, org_id),
        "interactions": lambda: _interactions(session, org_id),
        "tickets": lambda: _tickets(session, org_id),
        "survey_scores": lambda: _survey_scores(session, org_id),
    }
    if events_store is not None:
        readers["events"] = lambda: _events(events_store, org_id, None if until is None else _utc(until))
    sources: dict[str, pa.Table] = {}
    for name, read in readers.items():
        sources[name] = read()
        say(f"read {sources[name].num_rows:,} {name.replace('_', ' ')}")
    return duckdb_inputs(threads=DUCKDB_THREADS, **sources)


def feature_table_at(inputs: FeatureInputs, *, as_of: datetime) -> pd.DataFrame:
    """The feature table as of ``as_of`` from inputs read by :func:`read_feature_inputs`: one row per
    customer, ``customer_id`` first, then :data:`patron.analytics.features.FEATURE_COLUMNS`, sorted by
    ``customer_id``. Only records (and device events) dated before ``as_of`` count."""
    frame = compute_features(inputs, as_of=_utc(as_of)).order_by("customer_id").to_pandas()
    return frame.reset_index(drop=True)


def build_feature_table(
    session: Session,
    *,
    org_id: int,
    as_of: datetime | None = None,
    events_store: Any = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The organisation's feature table: one row per customer, ``customer_id`` as a column first.

    Parameters
    ----------
    session : Session
        Database session; only reads.
    org_id : int
        The organisation; nothing of another one is read.
    as_of : datetime, optional
        The moment the features describe (default now); only records before it count.
    events_store : patron.events.store.EventStore, optional
        The device event store; without it the usage features are 0 or null.
    progress : callable, optional
        Called with a short message as each input is read.

    Returns
    -------
    DataFrame
        ``customer_id`` and :data:`patron.analytics.features.FEATURE_COLUMNS`, sorted by
        ``customer_id`` (see that module for units and meanings).
    """
    moment = _utc(as_of or datetime.now(UTC))
    inputs = read_feature_inputs(
        session, org_id=org_id, events_store=events_store, until=moment, progress=progress
    )
    frame = feature_table_at(inputs, as_of=moment)
    (progress or (lambda _message: None))(
        f"computed {len(FEATURE_COLUMNS)} features for {len(frame):,} customers"
    )
    return frame


def feature_table_path(settings: Settings, org_id: int) -> Path:
    """Where the organisation's materialised feature table lives."""
    return Path(settings.data_dir) / "features" / f"org-{org_id}.parquet"


def write_feature_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write the feature table to Parquet atomically (a temporary file renamed into place)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), partial)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise Invalid(f"Cannot write {path}: {exc.strerror or exc}.", field="out") from None
    return path


def materialise(
    session: Session,
    *,
    org_id: int,
    settings: Settings,
    as_of: datetime | None = None,
    events_store: Any = None,
) -> Path:
    """Compute the organisation's feature table and write it to :func:`feature_table_path`."""
    frame = build_feature_table(session, org_id=org_id, as_of=as_of, events_store=events_store)
    return write_feature_table(frame, feature_table_path(settings, org_id))


def load_feature_table(settings: Settings, org_id: int) -> pd.DataFrame | None:
    """The organisation's materialised feature table, or None when it was never written."""
    path = feature_table_path(settings, org_id)
    if not path.is_file():
        return None
    return pq.read_table(path).to_pandas()
