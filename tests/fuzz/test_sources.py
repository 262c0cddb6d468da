"""The edges parse input only through `bot.http` and `bot.validation`: no handler reads a
form with ``request.post()`` (a non-UTF-8 body or malformed multipart would be a 500),
a JSON body with ``request.json()`` (NaN, 1e309 and lone surrogates would pass), or a
number with ``str.isdigit()`` (it takes ``²``)."""

from __future__ import annotations

import re
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
FORBIDDEN = {
    "request.post()": re.compile(r"\brequest\.post\(\)"),
    "request.json()": re.compile(r"\brequest\.json\(\)"),
    "str.isdigit()": re.compile(r"\.isdigit\(\)"),
}
# The one form parser itself; the fake WeChat / WeCom servers the tests talk to.
ALLOWED = {"http.py"}
FAKES = BOT / "channels" / "testing"


def test_edges_parse_input_only_through_the_validation_layer() -> None:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        if (path.name in ALLOWED and path.parent == BOT) or FAKES in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for what, pattern in FORBIDDEN.items():
                if pattern.search(code):
                    found.append(f"{path.relative_to(BOT.parent)}:{number}: {what}")
    assert not found, "use bot.http.read_form / read_json / query_id instead:\n" + "\n".join(found)
