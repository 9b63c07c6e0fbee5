"""Feed titles that try to break out of each channel's markup, mention everyone, or be huge."""

from __future__ import annotations

HOSTILE = {
    "markup": (
        "<script>alert(1)</script> <b>bold</b> <a href='javascript:x'>x</a> **b** __u__ "
        "~~s~~ `c` [link](https://evil.example) <@123> <#9> <t:0> &amp; # head | pipe"
    ),
    "mentions": "@everyone @here @room @channel <!channel> @admin breaking news",
    "long": "Very long headline " + "x" * 20_000 + " \U0001f4f0" * 3_000,
    "header": "Subject\r\nBcc: victim@example.org\r\nX-Evil: 1",
    # RFC 2047 encoded words that decode to CR/LF: the email library decodes them in a header.
    "encoded": "News =?utf-8?q?=0D=0ABcc:_victim@example.org=0D=0AX-Evil:_1?= now=?utf-8?b?DQo=?=",
}
