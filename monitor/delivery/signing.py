"""Standard Webhooks signatures (https://www.standardwebhooks.com). Pure.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the base64-decoded
part of a `whsec_` secret; the signature is `v1,` + base64(HMAC-SHA256). During a key rotation a
destination has several secrets and `webhook-signature` carries one signature per secret,
space-separated; a receiver accepts the message when any of them verifies.

Error messages never contain a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from monitor.errors import ConfigError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a password)
TOLERANCE_S = 300  # receivers reject timestamps more than 5 minutes off
# A new secret (24 random bytes, as Standard Webhooks suggests), with what newsmon runs on.
NEW_WHSEC_COMMAND = (
    "python3 -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(24)).decode())\""
)


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (the prefix is optional). Raises ConfigError."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "a webhook signing secret must be whsec_ followed by base64; make one with"
            f" {NEW_WHSEC_COMMAND}"
        ) from None
    if not key:
        raise ConfigError("a webhook signing secret must not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 signature>` of one message with one secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,...` per secret, space-separated."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def webhook_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (no signature header without secrets)."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secrets:
        headers["webhook-signature"] = signature_header(secrets, msg_id, timestamp, body)
    return headers


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int | None = None,
    tolerance: int = TOLERANCE_S,
) -> bool:
    """True when `headers` carry a valid signature of `body` by `secret` (receiver side).

    `now` (Unix seconds) enables the timestamp check; None skips it (fixed test vectors).
    Header names are matched case-insensitively.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not msg_id or not stamp or not given:
        return False
    try:
        timestamp = int(stamp)
    except ValueError:
        return False
    if now is not None and abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, part.encode()) for part in given.split(" ") if part)
