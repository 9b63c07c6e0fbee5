"""Standard Webhooks signing against the upstream test vectors (tests/data/webhooks)."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.delivery.signing import (
    decode_secret,
    sign,
    signature_header,
    verify,
    webhook_headers,
)
from monitor.errors import ConfigError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "webhooks" / "vectors.json").read_text(encoding="utf-8")
)
SECRET: str = VECTORS["secret"]
MSG_ID: str = VECTORS["msg_id"]
TIMESTAMP = int(VECTORS["timestamp"])
PAYLOAD: bytes = VECTORS["payload"].encode()
CASES = [c for c in VECTORS["cases"] if c["expect"] in ("valid", "invalid")]


def test_sign_reproduces_known_good_vector_byte_for_byte() -> None:
    good = next(c for c in VECTORS["cases"] if c["name"] == "valid_sign_vector")
    assert sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == good["headers"]["webhook-signature"]
    # The prefix is optional: the raw base64 key signs the same.
    assert sign(VECTORS["secret_raw_b64"], MSG_ID, TIMESTAMP, PAYLOAD) == sign(
        SECRET, MSG_ID, TIMESTAMP, PAYLOAD
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_verify_matches_every_vector(case: dict[str, Any]) -> None:
    assert verify(SECRET, case["headers"], PAYLOAD) is (case["expect"] == "valid")


def test_empty_secret_is_refused_without_quoting_it() -> None:
    case = next(c for c in VECTORS["cases"] if c["expect"] == "constructor_error")
    with pytest.raises(ConfigError, match="empty"):
        decode_secret(case["secret_override"])
    with pytest.raises(ConfigError) as info:
        decode_secret("whsec_not*base64*SENTINEL")
    assert "SENTINEL" not in str(info.value)


def test_two_secrets_during_rotation_give_two_signatures_each_verifiable() -> None:
    new = "whsec_" + base64.b64encode(b"k" * 32).decode()
    header = signature_header([SECRET, new], MSG_ID, TIMESTAMP, PAYLOAD)
    parts = header.split(" ")
    assert len(parts) == 2
    assert all(p.startswith("v1,") for p in parts)
    assert parts[0] == sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD)
    headers = webhook_headers([SECRET, new], MSG_ID, TIMESTAMP, PAYLOAD)
    assert verify(SECRET, headers, PAYLOAD)
    assert verify(new, headers, PAYLOAD)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other, headers, PAYLOAD)


def test_verify_checks_body_and_timestamp_window() -> None:
    headers = webhook_headers([SECRET], MSG_ID, TIMESTAMP, PAYLOAD)
    assert not verify(SECRET, headers, PAYLOAD + b" ")
    assert verify(SECRET, headers, PAYLOAD, now=TIMESTAMP + 299)
    assert not verify(SECRET, headers, PAYLOAD, now=TIMESTAMP + 301)
    assert not verify(SECRET, headers, PAYLOAD, now=TIMESTAMP - 301)
    upper = {k.upper(): v for k, v in headers.items()}
    assert verify(SECRET, upper, PAYLOAD)


def test_headers_without_secrets_carry_id_and_timestamp_only() -> None:
    assert webhook_headers([], MSG_ID, TIMESTAMP, PAYLOAD) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
    }


def test_a_secret_that_is_not_whsec_base64_is_told_how_to_make_one() -> None:
    with pytest.raises(ConfigError) as info:
        decode_secret("hunter2")
    # The command the message gives makes a secret newsmon takes.
    command = str(info.value).split("make one with ", 1)[1]
    assert command.startswith("python3 -c ")
    made = subprocess.run(
        [sys.executable, "-c", shlex.split(command)[2]], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert made.startswith("whsec_")
    assert len(decode_secret(made)) == 24
