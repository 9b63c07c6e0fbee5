"""The bytes of a JSON post: compact UTF-8, as webhooks are sent and digest and fold parts are
measured. Imports nothing of delivery's, so both can use it without importing each other."""

from __future__ import annotations

import json
from typing import Any


def encode_json(data: dict[str, Any]) -> bytes:
    # "replace": a lone surrogate from a broken document must not make the alert unsendable.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")
