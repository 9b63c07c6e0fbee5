"""docs/webhooks.md: its example payload validates against the schema and its verification
code accepts the Standard Webhooks vector and signatures newsmon makes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from monitor.delivery.signing import webhook_headers
from tests.test_delivery_document import SCHEMA, validate
from tests.test_signing import VECTORS

DOC = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", DOC, re.DOTALL)
    assert match, f"no {language} block in docs/webhooks.md"
    return match.group(1)


def test_example_payload_validates() -> None:
    example = json.loads(block("json"))
    validate(example, SCHEMA)
    assert example["id"] in DOC.split("```json")[0]  # the same id as in the headers example


def test_documented_verifier_works() -> None:
    namespace: dict[str, Any] = {}
    exec(block("python"), namespace)  # our own docs page
    verify = namespace["verify"]
    good = next(c for c in VECTORS["cases"] if c["name"] == "valid_sign_vector")
    body = VECTORS["payload"].encode()
    assert verify(VECTORS["secret"], good["headers"], body, tolerance=10**10)
    assert VECTORS["secret"] in DOC
    assert good["headers"]["webhook-signature"] in DOC
    now = int(time.time())
    two = ["whsec_" + "QUJD" * 8, VECTORS["secret"]]
    headers = webhook_headers(two, "msg_x", now, b"{}")
    assert verify(VECTORS["secret"], headers, b"{}")
    assert not verify(VECTORS["secret"], headers, b"{ }")
