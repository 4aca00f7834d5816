"""Segment pages: the list with sizes and sparklines, the builder (conditions, a live count, a preview), one
segment with its members, and the cluster explorer of an ML run with its priority ranking of the clusters.

The builder works without JavaScript: its buttons add or remove a condition row, count, or save, each a
plain form post. With JavaScript, ``/static/segments.js`` posts the same form to ``/segments/count`` on
every change and shows the count at once. The customer page's segments panel
(``segments/_customer_panel.html``) reads the customer's segments through the template global
``customer_segments_panel`` registered here, so the customer pages need to know nothing of segments.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from patron.core.api import SessionDep, SettingsDep
from patron.core.errors import PatronError
from patron.segments import ml as segments_ml
from patron.segments import ranking as segments_ranking
from patron.segments import service as segments_service
from patron.segments.definition import LIST_OPS, NO_VALUE_OPS, value_type
from patron.segments.models import RUN_METHODS
from patron.web.common import CsrfForm, FormInput, Pager, Permitted, attempt, redirect, render, templates
from patron.web.lookups import customer_names

router = APIRouter()

PAGE = 50
MAX_ROWS = 20
DEFINITION_PATH = "definition."


# --- small charts (inline SVG, drawn here) -----------------------------------------------------------


def sparkline(sizes: list[int], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points of a size series, scaled to the box (empty for fewer than two points)."""
    if len(sizes) < 2:
        return ""
    low, high = min(sizes), max(sizes)
    span = (high - low) or 1
    step = width / (len(sizes) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (s - low) / span * (height - 4):.1f}" for i, s in enumerate(sizes)
    )


def z_bars(z: dict[str, float], *, limit: float = 3.0) -> list[dict[str, Any]]:
    """One bar per feature of a z-scored centroid: offset and width in percent of a chart centred on 0,
    clipped at +-``limit`` standard deviations."""
    bars = []
    for feature, value in z.items():
        clipped = max(-limit, min(limit, value))
        width = abs(clipped) / limit * 50
        bars.append({"feature": feature, "z": value, "x": 50 if clipped >= 0 else 50 - width, "width": width,
                     "high": value >= 0})  # fmt: skip
    return bars


# --- the builder's rows <-> a definition -------------------------------------------------------------


def is_flat(definition: dict) -> bool:
    """Whether the builder can show a definition: one group of plain conditions (no nested groups)."""
    items = next(iter(definition.values()), []) if len(definition) == 1 else [None]
    return all(isinstance(item, dict) and "field" in item for item in items)


def _rows_of(definition: dict) -> tuple[str, list[dict[str, str]]]:
    """The builder's mode and rows of a flat stored definition (see :func:`is_flat`)."""
    mode = "any" if "any" in definition else "all"
    rows = []
    for item in definition.get(mode, []):
        if "field" not in item:
            continue
        value = item.get("value")
        text = (
            ", ".join(str(v) for v in value)
            if isinstance(value, list)
            else ""
            if value is None
            else str(value)
        )
        rows.append(
            {
                "field": item["field"],
                "op": item.get("op", ""),
                "value": text.lower() if isinstance(value, bool) else text,
            }
        )
    return mode, rows


def _typed(text: str, kind: str, op: str) -> Any:
    """A value typed in the builder, in the type the condition language wants (checked by the service)."""
    if (
        kind == "date"
        and op in ("within_days", "older_than_days")
        or kind in ("number", "last_seen", "owner", "birthday")
    ):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if kind in ("consent", "boolean"):
        return {"true": True, "yes": True, "false": False, "no": False}.get(text.lower(), text)
    return text


def _form_rows(form: FormInput) -> tuple[str, list[dict[str, str]]]:
    getter = form.data.getlist
    fields, ops, values = getter("field"), getter("op"), getter("value")
    rows = [{"field": str(f).strip(), "op": str(o).strip(), "value": str(v).strip()}
            for f, o, v in zip(fields, ops, values, strict=False)][:MAX_ROWS]  # fmt: skip
    mode = form.raw("mode") if form.raw("mode") in ("all", "any") else "all"
    return mode, rows


def _definition(mode: str, rows: list[dict[str, str]], attribute_types: dict[str, str]) -> dict:
    items = []
    for row in rows:
        if not row["field"]:
            continue
        item: dict[str, Any] = {"field": row["field"], "op": row["op"]}
        kind = value_type(row["field"], attribute_types) or "text"
        if row["op"] in LIST_OPS:
            item["value"] = [
                _typed(part.strip(), kind, row["op"]) for part in row["value"].split(",") if part.strip()
            ]
        elif row["op"] not in NO_VALUE_OPS:
            item["value"] = _typed(row["value"], kind, row["op"])
        items.append(item)
    return {mode: items}


def _row_error(exc: PatronError, mode: str, rows: list[dict[str, str]]) -> tuple[int | None, str]:
    """The row a definition error is about (by its path, e.g. ``definition.all[1].value``), and the message."""
    path = exc.field or ""
    detail = exc.detail.split(": ", 1)[1] if ": " in exc.detail and path else exc.detail
    prefix = f"{DEFINITION_PATH}{mode}["
    if path.startswith(prefix):
        index = int(path[len(prefix) :].split("]", 1)[0])
        filled = [i for i, row in enumerate(rows) if row["field"]]
        return (filled[index] if index < len(filled) else None), detail
    return None, detail


class Builder:
    """What the builder page shows: the rows, the count and preview, and errors by row or field."""

    def __init__(self, session, viewer, settings, form: FormInput | None = None, segment=None) -> None:
        self.session, self.viewer, self.settings, self.segment = session, viewer, settings, segment
        self.attribute_types = segments_service.attribute_types(session, org_id=viewer.org_id)
        self.form = form
        self.row_errors: dict[int, str] = {}
        self.errors: dict[str, str] = dict(form.errors) if form else {}
        self.count: int | None = None
        self.preview: list[tuple[int, str]] = []
        if form is not None:
            self.mode, self.rows = _form_rows(form)
            self.values = {"name": form.raw("name"), "description": form.raw("description")}
        elif segment is not None:
            self.mode, self.rows = _rows_of(segment.definition)
            self.values = {"name": segment.name, "description": segment.description}
        else:
            self.mode, self.rows, self.values = "all", [{"field": "", "op": "", "value": ""}], {}

    @property
    def definition(self) -> dict:
        return _definition(self.mode, self.rows, self.attribute_types)

    def evaluate(self) -> bool:
        """Count and preview the rows; False (with the error by its row) when the definition is refused."""
        try:
            self.count, self.preview = segments_service.preview_definition(
                self.session,
                org_id=self.viewer.org_id,
                definition=self.definition,
                settings=self.settings,
                limit=10,
            )
        except PatronError as exc:
            row, message = _row_error(exc, self.mode, self.rows)
            if row is None:
                self.errors.setdefault("form", message)
            else:
                self.row_errors[row] = message
            return False
        return True

    def context(self) -> dict[str, Any]:
        rows = self.rows or [{"field": "", "op": "", "value": ""}]
        fields = segments_service.fields(self.session, org_id=self.viewer.org_id, settings=self.settings)
        return {"builder": self, "rows": rows, "mode": self.mode, "fields": fields, "values": self.values,
                "errors": self.errors, "row_errors": self.row_errors, "segment": self.segment,
                "count": self.count, "preview": self.preview}  # fmt: skip


def _builder_post(request: Request, session, viewer, settings, form: FormInput, segment=None) -> Response:
    builder = Builder(session, viewer, settings, form=form, segment=segment)
    action = form.raw("action")
    if action == "add" and len(builder.rows) < MAX_ROWS:
        builder.rows.append({"field": "", "op": "", "value": ""})
    elif action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if 0 <= index < len(builder.rows):
            builder.rows.pop(index)
    elif action == "save":
        name = form.text("name", label="Name", max_length=120, required=True)
        description = form.text("description", label="Description", max_length=2000)
        builder.errors.update(form.errors)
        if builder.evaluate() and form.ok:

            def save():
                if segment is None:
                    created = segments_service.create_segment(session, org_id=viewer.org_id, name=name,
                                                              description=description, definition=builder.definition,
                                                              created_by_id=viewer.user_id)  # fmt: skip
                else:
                    created = segments_service.update_segment(session, segment=segment, changes={
                        "name": name, "description": description, "definition": builder.definition})  # fmt: skip
                segments_service.do_refresh_segment(session, segment=created, settings=settings)
                return created

            saved = attempt(session, form, save)
            if saved is not None:
                return redirect(
                    request,
                    f"/segments/{saved.id}",
                    flash=f"Segment '{saved.name}' saved: {saved.size} members.",
                )
            builder.errors.update(form.errors)
        return render(request, "segments/builder.html", builder.context(), status_code=422)
    if any(row["field"] for row in builder.rows):
        builder.evaluate()
    return render(request, "segments/builder.html", builder.context())


# --- routes ------------------------------------------------------------------------------------------


@router.get("/segments")
def segment_list(
    request: Request,
    viewer: Permitted("segments.read"),
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    segments, total = segments_service.list_segments(session, org_id=viewer.org_id, limit=PAGE, offset=offset)
    series = segments_service.sizes_by_segment(session, segment_ids=[s.id for s in segments])
    return render(request, "segments/list.html", {
        "segments": segments, "sparks": {sid: sparkline(sizes) for sid, sizes in series.items()},
        "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
        "runs": segments_ml.list_runs(session, org_id=viewer.org_id, limit=5), "methods": RUN_METHODS,
    })  # fmt: skip


@router.get("/segments/new")
def segment_new(request: Request, viewer: Permitted("segments.write"), session: SessionDep,
                settings: SettingsDep) -> Response:  # fmt: skip
    return render(request, "segments/builder.html", Builder(session, viewer, settings).context())


@router.post("/segments/new")
def segment_new_post(request: Request, viewer: Permitted("segments.write"), form: CsrfForm, session: SessionDep,
                     settings: SettingsDep) -> Response:  # fmt: skip
    return _builder_post(request, session, viewer, settings, form)


@router.post("/segments/count")
def segment_count(viewer: Permitted("segments.read"), form: CsrfForm, session: SessionDep,
                  settings: SettingsDep) -> Response:  # fmt: skip
    """The builder's live count: the form's rows counted now, as JSON (``count``, or ``error`` and ``row``)."""
    builder = Builder(session, viewer, settings, form=form)
    if not any(row["field"] for row in builder.rows):
        return JSONResponse({"count": None})
    if builder.evaluate():
        return JSONResponse({"count": builder.count,
                             "preview": [{"id": cid, "name": name} for cid, name in builder.preview]})  # fmt: skip
    row, message = next(iter(builder.row_errors.items()), (None, builder.errors.get("form", "")))
    # answered with 200: the refusal is the answer the builder shows, not a failed request
    return JSONResponse({"count": None, "error": message, "row": row})


@router.post("/segments/runs")
def ml_run_post(request: Request, viewer: Permitted("segments.write"), form: CsrfForm, session: SessionDep,
                settings: SettingsDep) -> Response:  # fmt: skip
    method = form.choice("method", RUN_METHODS, label="Method", required=True)
    k_min = form.integer("k_min", label="Smallest k", minimum=2, maximum=20, required=True)
    k_max = form.integer("k_max", label="Largest k", minimum=2, maximum=20, required=True)
    if form.ok and k_min is not None and k_max is not None and k_min > k_max:
        form.fail("k_max", "Largest k must be at least the smallest.")
    if form.ok:
        run = attempt(session, form, lambda: segments_ml.run_ml_segmentation(
            session, org_id=viewer.org_id, settings=settings, k_range=(k_min, k_max), method=method,
            created_by_id=viewer.user_id))  # fmt: skip
        if run is not None:
            return redirect(request, f"/segments/runs/{run.id}", flash=f"{run.k} clusters found.")
    message = "; ".join(form.errors.values())
    return redirect(request, "/segments", flash=f"The segmentation did not run: {message}", kind="error")


def _chosen_directions(entries: list[str] | None, ranking: dict | None) -> dict[str, str]:
    """``criterion -> benefit|cost`` the priority form shows as chosen: the ranking's criteria, else (when
    the ranking was refused) what the form sent, so the user sees and corrects their own choice."""
    if ranking is not None:
        return {c["name"]: c["type"] for c in ranking["criteria"]}
    chosen = {}
    for entry in entries or []:
        name, kind = entry.strip(), ""
        if ":" in name:
            name, _, kind = name.rpartition(":")
            name, kind = name.strip(), kind.strip().lower()
        if name:
            chosen[name] = kind if kind in segments_ranking.KINDS else segments_ranking.default_kind(name)
    return chosen


def priority(run, *, criterion: list[str] | None, weights: str, v: str) -> tuple[dict[str, Any], int]:
    """The explorer's Priority section: the ranking of the run's clusters for the form's choices (the
    defaults on a first visit), or the reason it was refused; and the page's status (422 when the
    user's choices were refused)."""
    section: dict[str, Any] = {"ranking": None, "error": None, "field": None, "weights": weights, "v": v,
                               "available": segments_ranking.available_criteria(run)}  # fmt: skip
    try:
        strategy = float(v)
    except ValueError:
        strategy = float("nan")  # refused below as out of [0, 1], like any other bad v
    try:
        section["ranking"] = segments_ranking.rank_clusters(run, criteria=criterion, weighting=weights,
                                                            v=strategy)  # fmt: skip
    except PatronError as exc:
        section["error"], section["field"] = exc.detail, exc.field
    section["chosen"] = _chosen_directions(criterion, section["ranking"])
    section["names"] = {int(c["cluster"]): c.get("name", str(c["cluster"])) for c in run.clusters}
    # the user's own choices refused -> 422; defaults that do not fit an old run are only a note on the page
    refused = section["error"] is not None and (criterion is not None or section["field"] in ("v", "weights"))
    return section, 422 if refused else 200


@router.get("/segments/runs/{run_id}")
def ml_run_page(
    request: Request,
    run_id: int,
    viewer: Permitted("segments.read"),
    session: SessionDep,
    criterion: Annotated[list[str] | None, Query()] = None,
    weights: Annotated[str, Query(max_length=20)] = "entropy",
    v: Annotated[str, Query(max_length=20)] = "0.5",
) -> Response:
    run = segments_ml.get_run_or_raise(session, org_id=viewer.org_id, run_id=run_id)
    section, status = priority(run, criterion=criterion, weights=weights, v=v)
    return render(request, "segments/run.html", {
        "run": run, "selection": segments_ml.selection_chart(run),
        "clusters": [c | {"bars": z_bars(c["z"])} for c in run.clusters],
        "priority": section,
    }, status_code=status)  # fmt: skip


@router.get("/segments/{segment_id}")
def segment_page(
    request: Request,
    segment_id: int,
    viewer: Permitted("segments.read"),
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    segment = segments_service.get_segment_or_raise(session, org_id=viewer.org_id, segment_id=segment_id)
    members, total = segments_service.list_members(session, segment=segment, limit=PAGE, offset=offset)
    sizes = segments_service.list_sizes(session, segment=segment, limit=60)
    names = customer_names(session, org_id=viewer.org_id, ids=[m.customer_id for m in members])
    return render(request, "segments/detail.html", {
        "segment": segment, "members": members, "names": names, "sizes": sizes,
        "spark": sparkline([s.size for s in sizes], width=320, height=60),
        "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
    })  # fmt: skip


def _not_editable(request: Request, segment) -> Response:
    reason = (
        "an ML segment's members come from its run"
        if segment.kind != "rule"
        else ("its conditions have nested groups, which the builder cannot show; change it through the API")
    )
    return redirect(request, f"/segments/{segment.id}", flash=f"This segment cannot be edited here: {reason}.",
                    kind="error")  # fmt: skip


@router.get("/segments/{segment_id}/edit")
def segment_edit(request: Request, segment_id: int, viewer: Permitted("segments.write"), session: SessionDep,
                 settings: SettingsDep) -> Response:  # fmt: skip
    segment = segments_service.get_segment_or_raise(session, org_id=viewer.org_id, segment_id=segment_id)
    if segment.kind != "rule" or not is_flat(segment.definition):
        return _not_editable(request, segment)
    builder = Builder(session, viewer, settings, segment=segment)
    builder.evaluate()
    return render(request, "segments/builder.html", builder.context())


@router.post("/segments/{segment_id}/edit")
def segment_edit_post(request: Request, segment_id: int, viewer: Permitted("segments.write"), form: CsrfForm,
                      session: SessionDep, settings: SettingsDep) -> Response:  # fmt: skip
    segment = segments_service.get_segment_or_raise(session, org_id=viewer.org_id, segment_id=segment_id)
    if segment.kind != "rule" or not is_flat(segment.definition):
        return _not_editable(request, segment)
    return _builder_post(request, session, viewer, settings, form, segment=segment)


@router.post("/segments/{segment_id}/refresh")
def segment_refresh(request: Request, segment_id: int, viewer: Permitted("segments.write"), form: CsrfForm,
                    session: SessionDep, settings: SettingsDep) -> Response:  # fmt: skip
    segment = segments_service.get_segment_or_raise(session, org_id=viewer.org_id, segment_id=segment_id)
    joined, left = segments_service.do_refresh_segment(session, segment=segment, settings=settings)
    return redirect(request, f"/segments/{segment.id}", flash=f"Refreshed: {joined} joined, {left} left.")


# --- the customer page's panel -----------------------------------------------------------------------


def customer_segments_panel(request: Request, customer_id: int) -> list[dict[str, Any]] | None:
    """The segments a customer is in now, for the customer page (None when the viewer may not see them).
    Read in a session of its own, as the panel is drawn inside another page's template."""
    viewer = getattr(request.state, "viewer", None)
    if viewer is None or not viewer.can("segments.read"):
        return None
    with request.app.state.sessionmaker() as session:
        rows = segments_service.customer_segments(session, org_id=viewer.org_id, customer_id=customer_id)
        return [{"id": s.id, "name": s.name, "kind": s.kind, "joined_at": m.joined_at} for s, m in rows]


templates.env.globals["customer_segments_panel"] = customer_segments_panel
