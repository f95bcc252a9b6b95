"""An action's definition checked on save: type, name, parameters, and its configuration (URL guard, own addresses).

A webhook's URL goes through the same guard as webhook endpoints (`webhook_http.checked_url`:
https unless allow-listed, a public address after DNS); an email's recipients must be the
business's own. A calendar_booking action's parameters are the server's (`calendar_tool`),
whatever was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import msgspec
from aiohttp.abc import AbstractResolver

from automations import action_email
from automations.action_config import calendar_config, email_config, http_config, merged_configuration
from automations.action_model import Action, ActionSpec, check_name, checked_type, clean_filler
from automations.action_schema import checked_parameters
from automations.calendar_tool import PARAMETERS as CALENDAR_PARAMETERS
from automations.webhook_http import checked_url
from storage.executor import Executor


async def checked_spec(db: Executor, business_id: uuid.UUID, spec: ActionSpec, *, saved: Action | None,
                       allowed_private_hosts: Collection[str], resolver: AbstractResolver) -> ActionSpec:
    """The spec as it will be saved.

    Args:
        saved: the action being edited (its write-only headers are kept unless the edit sends new ones).

    Raises:
        ActionDefinitionError: naming the field to blame.
        UrlNotAllowed: the URL is refused by the guard (422 URL_NOT_ALLOWED).
    """
    kind = checked_type(spec.type)
    check_name(spec.name)
    configuration = spec.configuration
    if saved is not None:
        configuration = merged_configuration(kind, saved.configuration, configuration)
    parameters = CALENDAR_PARAMETERS if kind == "calendar_booking" else checked_parameters(spec.parameters)
    checked: dict[str, Any]
    if kind in ("webhook_call", "custom_tool"):
        http = http_config(configuration)
        same = saved is not None and saved.configuration.get("url") == http.url
        url = http.url if same else await checked_url(http.url, allowed_private_hosts, resolver)
        checked = msgspec.to_builtins(msgspec.structs.replace(http, url=url))
    elif kind == "email_send":
        email = await action_email.checked_config(db, business_id, email_config(configuration))
        checked = msgspec.to_builtins(email)
    else:
        calendar = calendar_config(configuration)
        if calendar.base_url is not None and (saved is None or saved.configuration.get("baseUrl") != calendar.base_url):
            calendar = msgspec.structs.replace(
                calendar, base_url=await checked_url(calendar.base_url, allowed_private_hosts, resolver))
        checked = msgspec.to_builtins(calendar)
    return msgspec.structs.replace(spec, type=kind, name=spec.name, description=spec.description.strip(),
                                   parameters=parameters, configuration=checked,
                                   voice_filler=clean_filler(spec.voice_filler))
