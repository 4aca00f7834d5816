"""What the surveys domain does when the customers domain merges, erases or exports a customer.

:mod:`patron.surveys.service` re-exports these hooks; the customers domain finds them there by name
(:data:`patron.customers.hooks.CUSTOMER_HOOK_MODULES`).

* merge: the duplicate's responses and invites move to the survivor (one invite per customer and wave: an
  invite of a wave the survivor was also invited to stays with the duplicate);
* erasure: answers stay for statistics but anonymous (text answers and demographic items dropped, the
  customer detached); invites are detached;
* privacy export: the customer's responses and invites (never the token or its hash).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.surveys.definition import Questionnaire, parse_questionnaire
from patron.surveys.models import Survey, SurveyInvite, SurveyResponse

RESPONSE_EXPORT_FIELDS = ("id", "survey_id", "wave_id", "invite_id", "source", "answers", "submitted_at")
INVITE_EXPORT_FIELDS = ("id", "survey_id", "wave_id", "token_prefix", "created_at", "opened_at", "responded_at")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's responses and invites to the customer it was merged into. An invite of a
    wave the survivor was also invited to stays with the duplicate (one invite per customer and wave).
    Returns how many rows moved."""
    moved = 0
    responses = session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == from_customer_id)
        .values(customer_id=to_customer_id)
        .execution_options(synchronize_session="fetch")
    )
    moved += responses.rowcount or 0
    taken = select(SurveyInvite.wave_id).where(
        SurveyInvite.org_id == org_id, SurveyInvite.customer_id == to_customer_id
    )
    invites = session.execute(
        update(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == from_customer_id,
               SurveyInvite.wave_id.not_in(taken.scalar_subquery()))
        .values(customer_id=to_customer_id)
        .execution_options(synchronize_session="fetch")
    )
    moved += invites.rowcount or 0
    if moved:
        audit.record(session, action="reassign", entity="survey_responses", org_id=org_id,
                     before={"customer_id": from_customer_id},
                     after={"customer_id": to_customer_id, "count": moved})
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Keep the customer's answers for statistics but anonymous: drop text answers and demographic items,
    detach the customer; detach their invites. Returns how many responses were anonymised."""
    responses = list(
        session.scalars(
            select(SurveyResponse).where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == customer_id)
        )
    )
    questionnaires: dict[int, Questionnaire] = {}
    for response in responses:
        if response.survey_id not in questionnaires:
            definition = session.scalar(
                select(Survey.definition).where(Survey.org_id == org_id, Survey.id == response.survey_id)
            )
            questionnaires[response.survey_id] = parse_questionnaire(definition or {})
        q = questionnaires[response.survey_id]
        personal = {item.code for item in q.items() if item.kind == "text" or item.demographic}
        kept = {code: value for code, value in (response.answers or {}).items()
                if code not in personal and q.item(code) is not None}
        response.answers = kept
        response.customer_id = None
    session.execute(
        update(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == customer_id)
        .values(customer_id=None)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    if responses:
        audit.record(session, action="erase", entity="survey_responses", org_id=org_id,
                     after={"customer_id": customer_id, "anonymised": len(responses)})
    return len(responses)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's survey answers and invitations (without tokens)."""
    responses = session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.id)
    )
    invites = session.scalars(
        select(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == customer_id)
        .order_by(SurveyInvite.id)
    )
    return {
        "survey_responses": [
            {name: audit.jsonable(getattr(r, name)) for name in RESPONSE_EXPORT_FIELDS} for r in responses
        ],
        "survey_invites": [
            {name: audit.jsonable(getattr(i, name)) for name in INVITE_EXPORT_FIELDS} for i in invites
        ],
    }
