"""Predictions routes: one customer's predictions, and a run over the organisation."""

from __future__ import annotations

from fastapi import APIRouter, Request

from patron.accounts.deps import Allowed
from patron.core.api import SessionDep
from patron.customers import service as customers_service
from patron.predictions import schemas
from patron.predictions import service as predictions_service

router = APIRouter(prefix="/api/v1", tags=["predictions"])


@router.get("/customers/{customer_id}/predictions", response_model=schemas.PredictionOut,
            summary="A customer's lifetime value, churn risk, recommendations and sentiment")  # fmt: skip
def get_predictions(customer_id: int, principal: Allowed("predictions.read"), session: SessionDep) -> dict:
    """404 with code `not_computed` when no run has covered the customer yet."""
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    prediction = predictions_service.get_prediction_or_raise(session, org_id=principal.org_id,
                                                             customer_id=customer_id)  # fmt: skip
    products = predictions_service.recommended_with_names(
        session, org_id=principal.org_id, prediction=prediction
    )
    fields = {name: getattr(prediction, name) for name in schemas.PredictionOut.model_fields}
    return fields | {"recommended_products": products}


@router.post("/predictions/run", response_model=schemas.RunOut, summary="Run the predictive models now")
def run_predictions(
    body: schemas.RunRequest, principal: Allowed("predictions.run"), session: SessionDep, request: Request
) -> object:
    """Replaces every customer's predictions; the answer holds each model's hold-out metrics. It takes
    seconds for thousands of customers (the nightly run does the same). The churn model reads the
    customers' device usage from this server's event store."""
    return predictions_service.run_predictions(session, org_id=principal.org_id, as_of=body.as_of,
                                               horizon_days=body.horizon_days,
                                               events_store=request.app.state.events.store)  # fmt: skip
