"""Fingerprints of requests, so a replay with a different body is told apart from a true replay."""

import hashlib
import json
from typing import Any


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
