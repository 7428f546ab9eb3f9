"""The admin and history APIs against their OpenAPI document (/api/admin/openapi.json), by Schemathesis:
requests made from the document, valid and not, to a real server. Every answer must be documented: its
status code, its content type and the schema of its body; and none may be a 5xx.

Valid-looking requests may still be refused (an origin pattern the schema cannot express, a chat id
that is no chat): whether a request should succeed is the other tests' business, so the checks here are
those of conformance, not ``positive_data_acceptance``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.clients import HOST_ORIGIN
from tests.support.server_process import ServerProcess, server_process
from widget_server.web.admin_openapi import OPENAPI

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SITE = {"name": "Shop", "allowed_origins": [HOST_ORIGIN], "backend": "local"}


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(tmp_path_factory.mktemp("openapi"), {"sites": {"shop": SITE}}) as running:
        yield running


@pytest.fixture(scope="module")
def token(process: ServerProcess) -> str:
    return process.token("schemathesis")


# The document as the code holds it (loaded here, not through a fixture: Schemathesis's lazy fixture
# loading reaches into pytest internals that pytest 9.2 removed); the served one is checked to be it.
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_served_document_is_the_one_tested(process: ServerProcess) -> None:
    with urllib.request.urlopen(f"{process.url}/api/admin/openapi.json") as response:
        assert json.load(response) == json.loads(json.dumps(OPENAPI))


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented(case: schemathesis.Case, process: ServerProcess, token: str) -> None:
    case.call_and_validate(base_url=process.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
