"""Actions from the dashboard: create, list, read, edit, delete; names, limits, schemas, URLs and recipients refused."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from tests.automations.action_fixtures import actions_client, actions_settings, receiver, webhook_action
from tests.automations.conftest import Client, Shop
from tests.conftest import MakeBusiness
from tests.fake_webhook_receiver import FakeWebhookReceiver

__all__ = ["actions_client", "actions_settings", "receiver"]
HOOK = "https://hooks.example.test/crm"


async def _create(client: Client, shop: Shop, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/agents/{shop.agent_id}/actions", json=body, headers=shop.headers)
    answer: dict[str, Any] = await resp.json()
    return resp.status, answer


async def test_an_action_is_created_read_listed_edited_and_deleted_and_its_headers_never_shown(
        actions_client: Client, shop: Shop) -> None:
    status, action = await _create(actions_client, shop, webhook_action(HOOK))
    assert status == 201, action
    assert action["signingSecret"].startswith("whsec_")
    assert (action["type"], action["timeoutMs"], action["maxResponseBytes"]) == ("webhook_call", 10_000, 65_536)
    assert action["configuration"] == {"url": HOOK, "headerNames": ["Authorization"]}
    assert action["parameters"]["additionalProperties"] is False
    read = await (await actions_client.get(f"/api/actions/{action['id']}", headers=shop.headers)).json()
    listed = await (await actions_client.get(f"/api/agents/{shop.agent_id}/actions", headers=shop.headers)).json()
    edited = await actions_client.patch(f"/api/actions/{action['id']}", headers=shop.headers,
                                        json={"description": "CRM", "timeoutMs": 2000, "isActive": False,
                                              "configuration": read["configuration"]})
    assert edited.status == 200, await edited.text()
    body = await edited.json()
    for shown in (read, listed["actions"][0], body):
        assert "crm-secret-token" not in str(shown) and "signingSecret" not in shown
    assert (body["description"], body["timeoutMs"], body["isActive"]) == ("CRM", 2000, False)
    assert body["configuration"]["headerNames"] == ["Authorization"]  # kept: the edit did not send them
    assert (await actions_client.delete(f"/api/actions/{action['id']}", headers=shop.headers)).status == 204
    for method in ("GET", "PATCH", "DELETE"):
        gone = await actions_client.request(method, f"/api/actions/{action['id']}", json={"description": "x"},
                                            headers=shop.headers)
        assert gone.status == 404, method
    again, _ = await _create(actions_client, shop, webhook_action(HOOK))
    assert again == 201  # a deleted action's name is free again


async def test_zapier_trigger_is_saved_as_a_webhook_call(actions_client: Client, shop: Shop) -> None:
    status, action = await _create(actions_client, shop, webhook_action(HOOK, type="zapier_trigger"))
    assert (status, action["type"]) == (201, "webhook_call")


async def test_a_name_taken_in_any_case_is_409_and_a_tool_name_of_the_server_422(
        actions_client: Client, shop: Shop) -> None:
    await _create(actions_client, shop, webhook_action(HOOK))
    status, error = await _create(actions_client, shop, webhook_action(HOOK, name="PUSH_LEAD"))
    assert (status, error["error"]["code"]) == (409, "ACTION_NAME_TAKEN")
    for name in ("form_quote", "open_ticket"):
        status, error = await _create(actions_client, shop, webhook_action(HOOK, name=name))
        assert (status, error["error"]["field"]) == (422, "name")


async def test_the_21st_action_is_refused_naming_actions(actions_client: Client, shop: Shop) -> None:
    for i in range(20):
        status, _ = await _create(actions_client, shop, webhook_action(HOOK, name=f"tool_{i}"))
        assert status == 201
    status, error = await _create(actions_client, shop, webhook_action(HOOK, name="one_more"))
    assert (status, error["error"]["code"], error["error"]["field"]) == (422, "TOO_MANY_ACTIONS", "actions")


async def test_parameters_outside_the_subset_are_422_naming_them(actions_client: Client, shop: Shop) -> None:
    too_many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(21)}}
    cases = {
        "parameters.properties.address": {"type": "object", "properties": {"address": {"type": "object"}}},
        "parameters.properties.who": {"type": "object", "properties": {"who": {"$ref": "#/$defs/x"}}},
        "parameters": too_many,
    }
    for field, parameters in cases.items():
        status, error = await _create(actions_client, shop, webhook_action(HOOK, parameters=parameters))
        assert (status, error["error"]["field"]) == (422, field), error
    status, error = await _create(actions_client, shop, webhook_action(HOOK, type="sms_blast"))
    assert (status, error["error"]["field"]) == (422, "type")
    status, error = await _create(actions_client, shop, webhook_action(HOOK, timeoutMs=30_001))
    assert (status, error["error"]["field"]) == (422, "timeoutMs")


async def test_a_url_the_guard_refuses_is_422_url_not_allowed(actions_client: Client, shop: Shop) -> None:
    for url in ("https://lan.test/x", "https://metadata.test/x", "http://hooks.example.test/x",
                "https://169.254.169.254/latest"):
        status, error = await _create(actions_client, shop, webhook_action(url))
        assert (status, error["error"]["code"]) == (422, "URL_NOT_ALLOWED"), url


async def test_email_send_to_an_outside_address_is_422_and_to_the_owner_201(
        actions_client: Client, shop: Shop) -> None:
    body = {"type": "email_send", "name": "mail_owner", "parameters": {
        "type": "object", "properties": {"topic": {"type": "string"}}},
            "configuration": {"to": ["someone@elsewhere.example"], "subject": "About {{ topic }}",
                              "body": "Topic: {{ topic }}"}}
    status, error = await _create(actions_client, shop, body)
    assert (status, error["error"]["code"], error["error"]["field"]) == (
        422, "RECIPIENT_NOT_ALLOWED", "configuration.to")
    body["configuration"]["to"] = ["Owner@Bakery.example"]
    status, action = await _create(actions_client, shop, body)
    assert status == 201, action
    body["configuration"]["body"] = "{% if %}"
    status, error = await _create(actions_client, shop, {**body, "name": "broken"})
    assert (status, error["error"]["field"]) == (422, "configuration.body")


async def test_another_business_sees_the_action_as_missing(actions_client: Client, shop: Shop,
                                                           make_business: MakeBusiness) -> None:
    _, action = await _create(actions_client, shop, webhook_action(HOOK))
    other = await make_business("Other")
    for method, path in (("GET", f"/api/actions/{action['id']}"), ("DELETE", f"/api/actions/{action['id']}"),
                         ("GET", f"/api/actions/{action['id']}/executions"),
                         ("GET", f"/api/agents/{shop.agent_id}/actions")):
        resp = await actions_client.request(method, path, headers=other.headers)
        assert resp.status == 404, path
    resp = await actions_client.post("/api/actions/execute", json={"actionId": action["id"], "inputData": {}},
                                     headers=other.headers)
    assert resp.status == 404


async def test_execute_runs_signed_answers_and_lists_the_run(actions_client: Client, shop: Shop,
                                                             receiver: FakeWebhookReceiver) -> None:
    _, action = await _create(actions_client, shop, webhook_action(receiver.url("/echo")))
    with capture_logs() as logs:
        resp = await actions_client.post("/api/actions/execute", headers=shop.headers, json={
            "action_id": action["id"], "input_data": {"name": "Ada", "size": "large"}})
    assert resp.status == 200, await resp.text()
    ran = await resp.json()
    assert (ran["success"], ran["error"]) == (True, None)
    assert ran["result"]["data"]["input"] == {"name": "Ada", "size": "large"}
    (hit,) = receiver.received
    assert hit.verifies(action["signingSecret"]) and hit.verify_now(action["signingSecret"])
    assert hit.headers["authorization"] == "Bearer crm-secret-token"
    assert "crm-secret-token" not in str(logs)
    runs = await (await actions_client.get(f"/api/actions/{action['id']}/executions", headers=shop.headers)).json()
    (run,) = runs["executions"]
    assert (run["id"], run["status"], run["input"]) == (ran["executionId"], "succeeded", {"name": "Ada",
                                                                                           "size": "large"})
    assert run["durationMs"] == ran["durationMs"]


async def test_execute_refuses_bad_arguments_422_and_an_inactive_action_409(
        actions_client: Client, shop: Shop, receiver: FakeWebhookReceiver) -> None:
    _, action = await _create(actions_client, shop, webhook_action(receiver.url("/echo")))
    resp = await actions_client.post("/api/actions/execute", headers=shop.headers, json={
        "actionId": action["id"], "inputData": {"size": "huge", "shoe": 1}})
    error = (await resp.json())["error"]
    assert (resp.status, error["code"]) == (422, "INVALID_ARGUMENTS")
    assert {f["field"] for f in error["fields"]} == {"name", "size", "shoe"}
    await actions_client.patch(f"/api/actions/{action['id']}", json={"isActive": False}, headers=shop.headers)
    resp = await actions_client.post("/api/actions/execute", headers=shop.headers, json={
        "actionId": action["id"], "inputData": {"name": "Ada"}})
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "ACTION_INACTIVE")
    assert receiver.received == []
    runs = await (await actions_client.get(f"/api/actions/{action['id']}/executions", headers=shop.headers)).json()
    assert runs["executions"] == []


async def test_a_calendar_takes_the_servers_parameters_and_a_remote_ones_url_passes_the_guard(
        actions_client: Client, shop: Shop) -> None:
    body: dict[str, Any] = {"type": "calendar_booking", "name": "book_visit", "parameters": {
        "type": "object", "properties": {"anything": {"type": "string"}}}, "configuration": {
        "slotMinutes": 45, "hours": {"sat": [["10:00", "13:00"]]}}}
    status, action = await _create(actions_client, shop, body)
    assert status == 201, action
    assert action["parameters"]["required"] == ["operation"] and "anything" not in action["parameters"]["properties"]
    assert action["configuration"]["slotMinutes"] == 45
    cases = {"https://lan.test/cal": ("URL_NOT_ALLOWED", "configuration.baseUrl"),
             None: ("VALIDATION_ERROR", "configuration.baseUrl")}
    for url, (code, field) in cases.items():
        remote = {**body, "name": "remote_cal", "configuration": {"provider": "remote", "baseUrl": url}}
        status, error = await _create(actions_client, shop, remote)
        assert (status, error["error"]["code"], error["error"]["field"]) == (422, code, field), error
    status, error = await _create(actions_client, shop, {**body, "name": "odd", "configuration": {
        "hours": {"mon": [["17:00", "09:00"]]}}})
    assert (status, error["error"]["field"]) == (422, "configuration.hours")
