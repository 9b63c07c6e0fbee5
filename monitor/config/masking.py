"""Hide secret-looking values in text quoted by a config error. Pure.

A located config error quotes the line it is about, and errors go to stderr and from there to
container logs. That line may hold a Slack hook URL, a `whsec_` signing secret or a database
password. A YAML syntax error comes before any key is known (a tab, a bad indent), so the decision
is made on the text alone, the same way whatever found the error:
- the value of a key whose name says it holds a secret or an address (`secret`, `token`,
  `password`, `url`, `database_url`, ...; not `*_env` or `*_file`, which only name where it is)
  is hidden: a URL keeps its scheme and host, anything else is hidden whole;
- any URL keeps only its scheme and host (a hook's credential is its path or query; a database
  URL's is its password);
- `whsec_…` and Slack `xox?-…` tokens are hidden, and so are runs of 24 or more token characters
  that mix upper case, lower case and digits (base64 keys), or 32 or more hex digits.
A short secret alone on a continuation line of a multi-line value is the case this cannot see.
"""

from __future__ import annotations

import re

__all__ = ["HIDDEN", "mask_secrets"]

HIDDEN = "[hidden]"

_SECRET_NAME = re.compile(r"secret|token|passw|credential|auth|url|dsn|key|hook", re.IGNORECASE)
_LOCATOR_NAME = re.compile(r"_(env|file)$", re.IGNORECASE)
# `  - name: value` at the start of a line (block style), or `name: value` inside `{...}`.
_BLOCK_PAIR = re.compile(
    r"^(\s*(?:-\s+)*[\"']?)([^\s:#\"'{}\[\],][^:#\"'{}\[\],]*?)([\"']?\s*:)(\s.*)$"
)
_FLOW_PAIR = re.compile(r"([{,]\s*[\"']?)([^\s:#\"'{}\[\],]+)([\"']?\s*:)(\s*)([^,}\]]*)")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#\"',}]*)([^\s\"',}]*)")
_TOKEN = re.compile(
    r"whsec_[^\s\"',}\]]*|xox[a-z]-[^\s\"',}\]]*|(?<![\w+/=-])[\w+/=-]{24,}(?![\w+/=-])"
)


def _host_only(match: re.Match[str]) -> str:
    scheme, authority, rest = match.group(1), match.group(2), match.group(3)
    host = authority.rpartition("@")[2]  # user:password@ never shown
    # Idempotent: a URL already shown as `scheme://host/[hidden]` stays as it is.
    hidden = rest or host != authority
    return f"{scheme}{host}/{HIDDEN}" if hidden else f"{scheme}{host}"


def _token(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith(("whsec_", "xox")):
        return HIDDEN
    # Random keys mix cases and digits (base64, Slack's), or are long hex; ids and words do not.
    digits = any(c.isdigit() for c in text)
    mixed = digits and any(c.isupper() for c in text) and any(c.islower() for c in text)
    hexa = len(text) >= 32 and digits and all(c in "0123456789abcdefABCDEF" for c in text)
    return HIDDEN if mixed or hexa else text


def _is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _LOCATOR_NAME.search(name)


def _hide_value(value: str) -> str:
    """A secret-named key's value: a URL keeps scheme and host, anything else is hidden whole."""
    stripped = value.strip()
    if not stripped or stripped in ("|", ">", "|-", ">-") or stripped.startswith("#"):
        return value  # nothing on this line (a block scalar or a mapping follows)
    if "://" in stripped:
        return value  # every URL keeps only its scheme and host below
    return value[: len(value) - len(value.lstrip())] + HIDDEN


def _flow_pair(match: re.Match[str]) -> str:
    start, name, colon, space, value = match.groups()
    if not _is_secret_name(name) or not value.strip() or value.lstrip().startswith("["):
        return match.group(0)
    return f"{start}{name}{colon}{space}{_hide_value(value).strip()}"


def mask_secrets(text: str) -> str:
    """`text` (a line of the config file, or a message) with secret-looking values hidden."""
    if not text:
        return text
    block = _BLOCK_PAIR.match(text)
    if block is not None and _is_secret_name(block.group(2)):
        text = block.group(1) + block.group(2) + block.group(3) + _hide_value(block.group(4))
    if "{" in text:
        text = _FLOW_PAIR.sub(_flow_pair, text)
    if "://" in text:
        text = _URL.sub(_host_only, text)
    return _TOKEN.sub(_token, text)
