"""Schemathesis drives the running app from its own OpenAPI document, with a valid token for a seeded business.

Pass rule, for every generated request: no answer >= 500, no answer the document does not
allow (status, content type, body schema), and no row written anywhere for a request
answered 4xx. Webhooks and websockets are left out: their signatures make generated
requests all 403s (the signature tests cover them), and a websocket is not a request/response.
"""

from __future__ import annotations

import collections
import os
import zlib
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from schemathesis import Response
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from agent_server.api.routes_table import openapi_document
from tests.agent_server.api.fuzz_harness import OFFERED, OWNED, FuzzServer
from tests.agent_server.api.linked_flows import FLOWS, Chains, Flow, seed_step
from tests.conftest import PUBLIC_URL, PgServer

# Per operation in the suite; `make fuzz` raises both (AGENT_FUZZ_EXAMPLES) for a longer run.
EXAMPLES = int(os.environ.get("AGENT_FUZZ_EXAMPLES", "100"))
MIN_REQUESTS = 100
STATEFUL_EXAMPLES = max(10, EXAMPLES // 10)
# Steps in one linked sequence: a contact's chain is four steps in order, which ten rarely hold.
STATEFUL_STEP_COUNT = 20
SKIPPED_TAGS = ("twilio", "stripe")
# The pass rule's "nothing the document does not allow". Not negative_data_rejection: the API ignores query
# parameters and body fields it does not know (as it always has), which the document does not forbid.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SENT: collections.Counter[str] = collections.Counter()
FAILED: set[str] = set()


@pytest.fixture(scope="module")
def fuzz_server(pg_server: PgServer) -> Iterator[FuzzServer]:
    server = FuzzServer(pg_server)
    server.start()
    yield server
    assert server.ledger_violations() == []
    server.stop()


# The document the server serves (a test in test_openapi_document pins that they are equal).
schema = schemathesis.openapi.from_dict(openapi_document(PUBLIC_URL)).exclude(tag=list(SKIPPED_TAGS)).exclude(
    func=lambda ctx: bool(ctx.operation.definition.raw.get("x-websocket")))


def _seed(case: schemathesis.Case[Any], server: FuzzServer) -> None:
    """Every other case names the seeded business's objects (and an allowed Origin), so generated
    requests reach past the 404 for an unknown id into the handlers' own work."""
    pick = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    if pick % 2:
        return
    seeded = server.seeded
    assert seeded is not None
    known = {"id": str(seeded.business_id) if "businesses" in case.path else str(server.number_id),
             "numberId": str(server.number_id), "chatbotId": str(seeded.agent_id), "agentId": str(seeded.agent_id)}
    for name in case.path_parameters or {}:
        case.path_parameters[name] = known.get(name, case.path_parameters[name])
    if isinstance(case.headers, dict) and "Origin" in case.headers:
        case.headers["Origin"] = PUBLIC_URL
    numbers = OWNED if case.path.endswith("/import") else OFFERED
    server.seed_body(case, numbers[pick % len(numbers)])


def send_and_check(server: FuzzServer, session: requests.Session, case: schemathesis.Case[Any]) -> Response:
    """One request, with the three pass rules.

    Requests go one at a time, so the counts taken after a 4xx are the counts before the next
    request (most requests are 4xx: this halves the counting); after any other answer they are
    taken afresh."""
    before = server.settled_counts or server.row_counts()
    server.settled_counts = None
    response = case.call(base_url=server.base_url, session=session, headers=server.headers)
    case.validate_response(response, checks=CHECKS, headers=server.headers)
    if 400 <= response.status_code < 500:
        after = server.row_counts()
        changed = server.changed_tables(before, after)
        assert changed == {}, f"{case.operation.label} answered {response.status_code} and wrote rows"
        server.settled_counts = after
    return response


@pytest.fixture(scope="module", autouse=True)
def _totals() -> Iterator[None]:
    """What was sent, shown with `-s` (under xdist each worker prints its own share)."""
    yield
    print(f"\nfuzz: {len(SENT)} operations, {sum(SENT.values())} generated requests,"
          f" {sum(STATEFUL_STEPS.values())} linked steps ({len(STATEFUL_STEPS)} operations)")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
def test_generated_requests_keep_the_contract(case: schemathesis.Case[Any], fuzz_server: FuzzServer,
                                              session: requests.Session) -> None:
    _seed(case, fuzz_server)
    SENT[case.operation.label] += 1
    try:
        send_and_check(fuzz_server, session, case)
    except BaseException:
        FAILED.add(case.operation.label)
        raise


def _takes_input(label: str) -> bool:
    operation = schema.find_operation_by_label(label)
    return operation is not None and bool(operation.definition.raw.get("parameters") or operation.body)


@pytest.fixture(autouse=True)
def _enough_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each operation's run: it sent at least MIN_REQUESTS, checked per test so that it holds on
    whichever worker ran the operation. Operations that take no input get as many requests as
    Hypothesis can tell apart (a handful)."""
    yield
    label = request.node.name.partition("[")[2].removesuffix("]")
    if request.node.originalname != "test_generated_requests_keep_the_contract" or label in FAILED:
        return  # a failing operation stops early: its failure is the report
    assert label in SENT, f"{label}: no request sent"
    if _takes_input(label):
        assert SENT[label] >= MIN_REQUESTS, (label, SENT[label])


# Linked steps sent per operation; kept apart from SENT, so the 100-requests rule counts generated requests only.
STATEFUL_STEPS: collections.Counter[str] = collections.Counter()
# The document's own links only. With links inferred from the shapes as well (list -> edit), the list
# is the machine's one likely entry point and the purchase and import that create numbers never run.
DECLARED_LINKS = SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": []}}}})


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_linked_operations_keep_the_contract(flow: Flow, fuzz_server: FuzzServer, session: requests.Session) -> None:
    """A resource's objects are created, then read, edited and deleted through the document's links, same pass rules.

    Each create step names the seeded business and a number or phone nothing has taken, so it can
    succeed; linked steps are sent as the machine drew them (their ids come from the earlier
    response). At least one object goes through its whole chain.
    """
    linked = schemathesis.openapi.from_dict(openapi_document(PUBLIC_URL), config=DECLARED_LINKS).include(
        **flow.include)
    chains = Chains(flow)

    class Machine(linked.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> StepOutput:
            seed_step(input.case, fuzz_server, first=input.transition is None)
            response = send_and_check(fuzz_server, session, input.case)
            self.after_call(response, input.case)
            STATEFUL_STEPS[input.case.operation.label] += 1
            chains.record(input, response)
            return StepOutput(response, input.case)

    Machine.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEP_COUNT,
                                  deadline=None, derandomize=True, database=None,
                                  suppress_health_check=list(HealthCheck)))
    assert chains.completed, chains.summary
    if flow.name == "numbers":
        assert all(chains.ended[n]["number"]["status"] == "released" for n in chains.completed), chains.summary
        released = {chains.created[n]["number"]["phoneNumber"] for n in chains.completed}
        assert released <= set(fuzz_server.carrier_released()), chains.summary
