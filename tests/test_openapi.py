"""The admin and history APIs against their OpenAPI document (/api/admin/openapi.json), by Schemathesis:
requests made from the document, valid and not, to a real server. Every answer must be documented: its
status code, its content type and the schema of its body; and none may be a 5xx.

Valid-looking requests may still be refused (an origin pattern the schema cannot express, a chat id
that is no chat): whether a request should succeed is the other tests' business, so the checks here are
those of conformance, not ``positive_data_acceptance``.
"""

from __future__ import annotations

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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SITE = {"name": "Shop", "allowed_origins": [HOST_ORIGIN], "backend": "local"}


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(tmp_path_factory.mktemp("openapi"), {"sites": {"shop": SITE}}) as running:
        yield running


@pytest.fixture(scope="module")
def token(process: ServerProcess) -> str:
    return process.token("schemathesis")


@pytest.fixture(scope="module")
def api_schema(process: ServerProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{process.url}/api/admin/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented(case: schemathesis.Case, process: ServerProcess, token: str) -> None:
    case.call_and_validate(base_url=process.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
