"""The document's links the stateful fuzz walks, per resource, and what the machine's steps did along them.

A flow is a resource's create operations and the chain of linked operations its links lead to
(numbers: bought or imported -> edited -> released; contacts: created -> read -> edited ->
deleted; campaigns: drafted -> read -> deleted, edited and sent on the way as the machine
draws; texts: queued -> read; bulk sends: sent -> their campaign read; agents: created -> read ->
edited -> deleted). A chain is complete for an object when every linked operation of it succeeded on the object, the last one (the delete or
release, which ends it) after all the others. The ones before it may come in either order: the
machine follows each link from the create's response, and a read after an edit proves as much.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import schemathesis
from schemathesis import Response
from schemathesis.generation.stateful.state_machine import StepInput

from tests.agent_server.api.fuzz_harness import FuzzServer

IMPORT = "POST /api/numbers/import"


@dataclasses.dataclass(frozen=True)
class Flow:
    """`include` selects the operations the machine may call (schemathesis `include` filters): the
    create and what its links lead to. A list would be an entry point too, whose steps lead nowhere."""

    name: str
    include: Mapping[str, Any]
    create: tuple[str, ...]
    chain: tuple[str, ...]
    created_id: Callable[[Any], str]


FLOWS = (
    Flow("numbers", {"path_regex": "^/api/(numbers|businesses/)"}, ("POST /api/numbers/purchase", IMPORT),
         ("PATCH /api/numbers/{id}", "DELETE /api/numbers/{numberId}/release"), lambda body: body["number"]["id"]),
    Flow("contacts", {"name": ["POST /api/contacts", "GET /api/contacts/{id}",
                               "PATCH /api/contacts/{id}", "DELETE /api/contacts/{id}"]}, ("POST /api/contacts",),
         ("GET /api/contacts/{id}", "PATCH /api/contacts/{id}", "DELETE /api/contacts/{id}"),
         lambda body: body["id"]),
    Flow("campaigns", {"name": ["POST /api/campaigns", "GET /api/campaigns/{id}",
                                "PATCH /api/campaigns/{id}", "DELETE /api/campaigns/{id}",
                                "POST /api/campaigns/{id}/send"]},
         ("POST /api/campaigns",), ("GET /api/campaigns/{id}", "DELETE /api/campaigns/{id}"), lambda body: body["id"]),
    Flow("texts", {"name": ["POST /api/sms/send", "GET /api/sms/messages/{id}"]}, ("POST /api/sms/send",),
         ("GET /api/sms/messages/{id}",), lambda body: body["messageId"]),
    Flow("bulk", {"name": ["POST /api/sms/bulk", "GET /api/campaigns/{id}"]}, ("POST /api/sms/bulk",),
         ("GET /api/campaigns/{id}",), lambda body: body["campaignId"]),
    Flow("agents", {"name": ["POST /api/agents", "GET /api/agents/{agentId}", "PATCH /api/agents/{agentId}",
                             "GET /api/agents/{agentId}/versions", "DELETE /api/agents/{agentId}"]},
         ("POST /api/agents",), ("GET /api/agents/{agentId}", "PATCH /api/agents/{agentId}",
                                 "DELETE /api/agents/{agentId}"), lambda body: body["id"]),
)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def seed_step(case: schemathesis.Case[Any], server: FuzzServer, *, first: bool) -> None:
    """Ids of the seeded business, and phones nothing has used, in a step's body, so a create can succeed.

    A number to buy or import is one the fake carrier has; a contact's or a text's phone is fresh
    (no create is refused as a duplicate) and read in a country and zone that exist. Strings lose
    their NUL characters (each is a 422, which the generated requests already show): otherwise
    most edits of a chain stop there. Only strings are replaced: other drawn values stay."""
    if not isinstance(case.body, dict):
        return
    case.body = body = _without_nul(case.body)
    if first and isinstance(body.get("phoneNumber"), str):
        server.seed_body(case, server.fresh_number(owned=case.operation.label == IMPORT))
        return
    server.seed_body(case, "")
    for name in ("phone", "to"):
        if isinstance(body.get(name), str):
            body[name] = server.fresh_phone()
    for name, value in (("defaultCountry", "US"), ("timezone", "America/New_York")):
        if isinstance(body.get(name), str):
            body[name] = value
    if isinstance(body.get("to"), list):
        body["to"] = [server.fresh_phone() if isinstance(x, str) else x for x in body["to"]]
    if isinstance(body.get("fromNumberId"), str):
        body["fromNumberId"] = str(server.number_id)
    if isinstance(body.get("fromNumberIds"), list) and body["fromNumberIds"]:
        body["fromNumberIds"] = [str(server.number_id)]


class Chains:
    """Per flow and per test: the objects its creates made, and the linked operations that succeeded on each."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.created: dict[str, Any] = {}
        self.done: dict[str, set[str]] = {}
        self.ended: dict[str, Any] = {}
        self.linked_ok: collections.Counter[str] = collections.Counter()

    def record(self, step: StepInput, response: Response) -> None:
        label = step.case.operation.label
        if not 200 <= response.status_code < 300:
            return
        if step.transition is None:
            if label in self.flow.create:
                body = response.json()
                object_id = self.flow.created_id(body)
                self.created[object_id], self.done[object_id] = body, set()
            return
        named = [v for v in (step.case.path_parameters or {}).values() if v in self.created]
        if not named:
            return
        object_id = named[0]
        self.linked_ok[label] += 1
        *before, last = self.flow.chain
        if label == last and object_id not in self.ended and self.done[object_id] >= set(before):
            self.ended[object_id] = response.json() if response.content else None
        self.done[object_id].add(label)

    @property
    def completed(self) -> list[str]:
        """The objects the whole chain succeeded on, its last operation after the others."""
        return list(self.ended)

    @property
    def summary(self) -> dict[str, int]:
        return {"created": len(self.created), **self.linked_ok, " -> ".join(("create", *self.flow.chain)):
                len(self.completed)}
