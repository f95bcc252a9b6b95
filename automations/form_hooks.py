"""A form's webhookUrl is a webhook endpoint filtered to that form: created, moved or removed with the form.

The endpoint is an ordinary one (signed, retried, logged, listed under /api/webhook-endpoints),
subscribed to `form.submitted` for this form only. Its secret is returned once, by the save that
created it, exactly as an endpoint created directly shows its secret once.
"""

from __future__ import annotations

import datetime
import uuid

import msgspec

from automations import form_store, webhook_endpoints
from automations.form_model import Form
from automations.webhook_outbox import FORM_SUBMITTED
from storage.executor import Executor


async def sync_endpoint(db: Executor, form: Form, *, now: datetime.datetime) -> tuple[Form, str | None]:
    """Make the form's endpoint match its webhookUrl (call inside the transaction that saved the form).

    Returns:
        The form with its endpoint id, and the endpoint's secret when this call created it.
    """
    current = None
    if form.webhook_endpoint_id is not None:
        current = await webhook_endpoints.get(db, form.webhook_endpoint_id, form.business_id)
    if form.webhook_url is None:
        if current is not None:
            await webhook_endpoints.delete(db, current.id, form.business_id)
            await form_store.link_endpoint(db, form.id, None)
        return _with(form, None), None
    if current is not None:
        if current.url != form.webhook_url:
            await webhook_endpoints.update(db, current.id, form.business_id, url=form.webhook_url, event_types=None,
                                           form_ids=None, enabled=None, now=now)
        return form, None
    endpoint, secret = await webhook_endpoints.create(db, form.business_id, url=form.webhook_url,
                                                      event_types=(FORM_SUBMITTED,), form_ids=(form.id,),
                                                      enabled=True, now=now)
    await form_store.link_endpoint(db, form.id, endpoint.id)
    return _with(form, endpoint.id), secret


async def drop_endpoint(db: Executor, form: Form) -> None:
    """Remove the endpoint of a deleted form (its queued messages go with it)."""
    if form.webhook_endpoint_id is not None:
        await webhook_endpoints.delete(db, form.webhook_endpoint_id, form.business_id)


def _with(form: Form, endpoint_id: uuid.UUID | None) -> Form:
    return msgspec.structs.replace(form, webhook_endpoint_id=endpoint_id)
