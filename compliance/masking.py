"""Masking of customers' personal numbers in everything a report shows.

Reports travel (mail, shared drives, printed QA sheets); a customer's mobile
number or 身份证 number must not travel with them.  Masking replaces digits with
``*`` one for one, so a masked text has the same length as the original and a
finding's `span` still points at the right characters for highlighting.

What is masked, and how much stays readable (enough to tell two numbers apart
when a reviewer asks the customer, no more):

- mainland mobile numbers, ``1[3-9]`` + 9 digits, also written ``138 1234 5678``
  or ``138-1234-5678`` or after ``+86``: the first 3 and last 4 digits stay
  (``138****5678``, the form banks and carriers print);
- 18-digit resident ID numbers (last character a digit or X) and the old 15-digit
  ones: all but the last 4 characters are masked;
- landline numbers with an area code (``010-12345678``, ``0755 8765 4321``): the area
  code and the last 4 digits stay.

A number inside a longer run of digits or letters (an order number, a serial
number, a 工号) is not a phone number and is left alone.  The 400 / 800 service
lines are the company's, not a customer's, and stay readable.
"""

from __future__ import annotations

import re
from dataclasses import replace

from compliance.model import Finding

__all__ = ["mask_finding", "mask_pii"]

# Separators people put inside phone numbers.
_SEP = r"[ \-\u2010-\u2015]?"

# No letter or digit may touch a number on either side, so a fragment of an order
# number or serial number is not mistaken for one.
_BEFORE = r"(?<![0-9A-Za-z])"
_AFTER = r"(?![0-9A-Za-z])"

_ID_NUMBER = re.compile(_BEFORE + r"(?:[0-9]{17}[0-9Xx]|[0-9]{15})" + _AFTER)
_MOBILE = re.compile(
    _BEFORE
    + r"(?:(?:\+|00)?86"
    + _SEP
    + r")?1[3-9][0-9]("
    + _SEP
    + r"[0-9]{4}"
    + _SEP
    + r")[0-9]{4}"
    + _AFTER
)
# Area codes are 3 or 4 digits starting with 0 (010, 021, 0755); local numbers 7–8 digits.
_LANDLINE = re.compile(
    _BEFORE + r"\(?0[0-9]{2,3}\)?" + _SEP + r"([0-9]{3,4}" + _SEP + r")[0-9]{4}" + _AFTER
)
# Full-width digits and hyphen fold to ASCII one for one, so positions carry over.
_FOLD = str.maketrans("０１２３４５６７８９－＋（）", "0123456789-+()")
_MAYBE_NUMBER = re.compile(r"[0-9０-９]{7}|[0-9０-９][ \-－][0-9０-９]")


def _masked_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` whose digits are to be starred."""
    ranges: list[tuple[int, int]] = []
    for match in _ID_NUMBER.finditer(text):
        ranges.append((match.start(), match.end() - 4))
    for pattern in (_MOBILE, _LANDLINE):
        for match in pattern.finditer(text):
            ranges.append(match.span(1))
    return ranges


def mask_pii(text: str) -> str:
    """`text` with mobile, ID and landline numbers masked; same length as `text`.

    Returns `text` itself when there is nothing to mask.
    """
    if not text or _MAYBE_NUMBER.search(text) is None:
        return text  # the common case: nothing that could be a number
    ranges = _masked_ranges(text.translate(_FOLD))
    if not ranges:
        return text
    chars = list(text)
    for start, end in ranges:
        for i in range(start, end):
            if chars[i].isdigit():
                chars[i] = "*"
    return "".join(chars)


def mask_finding(finding: Finding) -> Finding:
    """`finding` with its message, evidence and suggestion masked (the same object if clean)."""
    message = mask_pii(finding.message)
    evidence = mask_pii(finding.evidence) if finding.evidence else finding.evidence
    suggestion = mask_pii(finding.suggestion) if finding.suggestion else finding.suggestion
    if (
        message is finding.message
        and evidence is finding.evidence
        and suggestion is finding.suggestion
    ):
        return finding
    return replace(finding, message=message, evidence=evidence, suggestion=suggestion)
