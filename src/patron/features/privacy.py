"""Customer-data hooks of the features domain: the materialised feature table on merge, erasure, deletion
and privacy export.

The table (``{data_dir}/features/org-{id}.parquet``) is derived data, rebuilt by every
:func:`patron.features.service.materialise`. Until then: an erased or deleted customer's row is removed
from it at once (it holds age, gender and income band), a merged duplicate's row too (the survivor's
row catches up at the next build), and the privacy export includes the customer's row.

The hooks find the file through the process settings, and only when those settings name the session's
database; otherwise there is no table of theirs to change and they do nothing. Removing a row is not
undone if the surrounding transaction rolls back: the next build brings it back.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from patron.core.config import get_settings
from patron.features.service import feature_table_path, write_feature_table


def _table_path(session: Session, org_id: int) -> Path | None:
    settings = get_settings()
    bind_url = session.get_bind().url.render_as_string(hide_password=False)
    if make_url(settings.effective_database_url).render_as_string(hide_password=False) != bind_url:
        return None
    path = feature_table_path(settings, org_id)
    return path if path.is_file() else None


def _drop_rows(session: Session, org_id: int, customer_id: int) -> int:
    path = _table_path(session, org_id)
    if path is None:
        return 0
    table = pq.read_table(path)
    keep = pc.not_equal(table["customer_id"], customer_id)
    kept = table.filter(keep)
    removed = table.num_rows - kept.num_rows
    if removed:
        write_feature_table(kept.to_pandas(), path)
    return removed


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Remove the customer's row from the materialised feature table; returns the rows removed."""
    return _drop_rows(session, org_id, customer_id)


def delete_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Remove a deleted customer's row from the materialised feature table."""
    return _drop_rows(session, org_id, customer_id)


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Remove the merged duplicate's row; the survivor's features include its history at the next build."""
    return _drop_rows(session, org_id, from_customer_id)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's row of the materialised feature table (an empty list when there is none)."""
    path = _table_path(session, org_id)
    if path is None:
        return {"feature_table": []}
    table = pq.read_table(path, filters=[("customer_id", "=", customer_id)])
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_pylist()
    ]
    return {"feature_table": rows}
