"""Shared fixtures. Unit tests run on moto; integration and e2e tests on a local stack (DynamoDB
Local, the real engine) that one session fixture per test process starts and stops."""

import os
import uuid

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "livestock")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LiveStock")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture
def sku_id() -> str:
    return f"sku-{uuid.uuid4().hex[:10]}"
