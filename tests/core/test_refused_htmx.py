"""A refusal answered to htmx is an event and a notice, never a page swapped into a row."""

from __future__ import annotations

import json

from django.test import Client


def test_a_refusal_to_htmx_is_not_swapped_and_carries_its_message(service, lead) -> None:
    client = Client()
    client.force_login(lead)
    url = f"/services/{service.slug}/items/security.http_headers/"
    answer = client.post(url, {"action": "done"}, HTTP_HX_REQUEST="true")  # no version
    assert answer.status_code == 400
    assert answer["HX-Reswap"] == "none"
    message = json.loads(answer["HX-Trigger"])["preflight:refused"]["message"]
    assert "version" in message
    assert "<html" not in answer.content.decode()  # the message alone, not the refusal page


def test_the_same_refusal_without_htmx_is_the_refusal_page(service, lead) -> None:
    client = Client()
    client.force_login(lead)
    url = f"/services/{service.slug}/items/security.http_headers/"
    answer = client.post(url, {"action": "done"})
    assert answer.status_code == 400 and "HX-Trigger" not in answer
    assert "Nothing was changed" in answer.content.decode()
