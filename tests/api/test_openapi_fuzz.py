"""Schemathesis drives every operation of ``/openapi.json`` with generated requests, signed
with an admin key: no answer is a server error, and every answer matches the schema and the
content type the document declares."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.conftest import Api


@pytest.mark.slow
def test_no_server_error_and_no_schema_violation(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {api.keys['my_admin']}"}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operations.append(result.ok())
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            case.call_and_validate(
                base_url=api.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        call()
