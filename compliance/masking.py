"""Masking of customers' personal numbers in everything a report shows, and their
erasure when a customer is forgotten.

Reports travel (mail, shared drives, printed QA sheets); a customer's mobile
number or 身份证 number must not travel with them.  Masking replaces digits with
``*`` one for one, so a masked text has the same length as the original and a
finding's `span` still points at the right characters for highlighting.

What is masked, and how much stays readable (enough to tell two numbers apart
when a reviewer asks the customer, no more):

- mainland mobile numbers, ``1[3-9]`` + 9 digits, also written ``138 1234 5678``,
  ``138-1234-5678``, ``138.1234.5678``, digit by digit ``1 3 8 1 2 3 4 5 6 7 8`` or
  after ``+86``: the first 3 and last 4 digits stay (``138****5678``, the form banks
  and carriers print);
- 18-digit resident ID numbers (last character a digit or X) and the old 15-digit
  ones: all but the last 4 characters are masked.  One glued to letters
  (``sfz110101199003071234``) is masked too when its birth date is a real one;
- landline numbers with an area code (``010-12345678``, ``0755 8765 4321``): the area
  code and the last 4 digits stay.

A number inside a longer run of digits (an order number, a serial number, a 工号) is
not a phone number and is left alone; nor is a short number glued to letters.  The
400 / 800 service lines are the company's, not a customer's, and stay readable.

`erase_pii` is the stronger form for a customer who asked to be forgotten (or whose
ticket is past retention): every digit of those numbers goes, and so do the names the
customer was known by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from compliance.model import Finding

__all__ = ["erase_pii", "mask_finding", "mask_json", "mask_pii"]

# Separators people put inside phone numbers (one between any two digits).
_SEP = r"[ .\-\u2010-\u2015]?"

# No letter or digit may touch a number on either side, so a fragment of an order
# number or serial number is not mistaken for one.
_BEFORE = r"(?<![0-9A-Za-z])"
_AFTER = r"(?![0-9A-Za-z])"

_ID_NUMBER = re.compile(_BEFORE + r"(?:[0-9]{17}[0-9Xx]|[0-9]{15})" + _AFTER)
# An 18-digit ID number glued to letters (身份证sfz110…): only with a real birth date.
_ID_GLUED = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9])"
)
_MOBILE = re.compile(
    _BEFORE + r"(?:(?:\+|00)?86" + _SEP + r")?1" + _SEP + r"[3-9](?:" + _SEP + r"[0-9]){9}" + _AFTER
)
# Area codes are 3 or 4 digits starting with 0 (010, 021, 0755); local numbers 7–8 digits.
_LANDLINE = re.compile(
    _BEFORE + r"\(?0[0-9]{2,3}\)?" + _SEP + r"([0-9]{3,4}" + _SEP + r")[0-9]{4}" + _AFTER
)
# Full-width digits, hyphen and full stop fold to ASCII one for one, so positions carry over.
_FOLD = str.maketrans("０１２３４５６７８９－＋（）．", "0123456789-+().")
_MAYBE_NUMBER = re.compile(r"[0-9０-９]{7}|[0-9０-９][ \-－.．][0-9０-９]")


def _digits(text: str, start: int, end: int) -> list[int]:
    return [i for i in range(start, end) if text[i].isdigit()]


def _masked_positions(text: str, *, full: bool) -> set[int]:
    """Positions in `text` (folded) of the characters to be starred."""
    positions: set[int] = set()
    for pattern in (_ID_NUMBER, _ID_GLUED):
        for match in pattern.finditer(text):
            end = match.end() if full else match.end() - 4
            positions.update(range(match.start(), end))
    for match in _MOBILE.finditer(text):
        mobile = _digits(text, match.start(), match.end())[-11:]
        positions.update(mobile if full else mobile[3:7])
    for match in _LANDLINE.finditer(text):
        if full:
            positions.update(_digits(text, match.start(), match.end()))
        else:
            positions.update(_digits(text, *match.span(1)))
    return positions


def _star(text: str, *, full: bool) -> str:
    if not text or _MAYBE_NUMBER.search(text) is None:
        return text  # the common case: nothing that could be a number
    positions = _masked_positions(text.translate(_FOLD), full=full)
    if not positions:
        return text
    chars = list(text)
    for i in positions:
        if chars[i].isalnum():
            chars[i] = "*"
    return "".join(chars)


def mask_pii(text: str) -> str:
    """`text` with mobile, ID and landline numbers masked; same length as `text`.

    Returns `text` itself when there is nothing to mask.
    """
    return _star(text, full=False)


def erase_pii(text: str, names: Iterable[str] = ()) -> str:
    """`text` with every digit of those numbers starred, and each of `names` (the
    customer's display name, 张总 …; two characters or more) starred too."""
    out = _star(text, full=True)
    for name in names:
        if name and len(name) >= 2 and name in out:
            out = out.replace(name, "*" * len(name))
    return out


def mask_json(value: Any, names: Iterable[str] = ()) -> Any:
    """`value` (a JSON document: event data, a payload) with `erase_pii` applied to
    every string in it."""
    names = tuple(names)
    if isinstance(value, str):
        return erase_pii(value, names)
    if isinstance(value, list):
        return [mask_json(item, names) for item in value]
    if isinstance(value, dict):
        return {key: mask_json(item, names) for key, item in value.items()}
    return value


def mask_finding(finding: Finding) -> Finding:
    """`finding` with its session id (a phone number, for some exports), message,
    evidence and suggestion masked (the same object if clean)."""
    session = mask_pii(finding.session)
    message = mask_pii(finding.message)
    evidence = mask_pii(finding.evidence) if finding.evidence else finding.evidence
    suggestion = mask_pii(finding.suggestion) if finding.suggestion else finding.suggestion
    if (
        session is finding.session
        and message is finding.message
        and evidence is finding.evidence
        and suggestion is finding.suggestion
    ):
        return finding
    return replace(
        finding, session=session, message=message, evidence=evidence, suggestion=suggestion
    )
