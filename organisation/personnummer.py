"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

A personnummer is YYMMDD-NNNC: birth date, a serial number and a Luhn check digit over the ten digits.
People aged 100 or more write '+' instead of '-'. A samordningsnummer adds 60 to the day. Skolflöde
stores the normalised twelve-digit form YYYYMMDDNNNC and shows a masked form to viewers who have no
need to see the whole number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_PATTERN = re.compile(r"^(?P<century>\d{2})?(?P<yymmdd>\d{6})(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)$")
# Finds personnummer-shaped tokens inside free text (log lines, exports). Deliberately broad: masking a
# date-like number by mistake is cheap, leaking an identity number is not.
PERSONNUMMER_IN_TEXT = re.compile(r"(?<!\d)(\d{2})?(\d{6})[-+]?(\d{4})(?!\d)")


class InvalidPersonnummer(ValueError):
    """Raised with a message a person can act on: what is wrong with the number."""


@dataclass(frozen=True)
class Personnummer:
    birth_date: date
    serial: str  # three digits
    check: str  # one digit
    coordination: bool

    @property
    def normalised(self) -> str:
        day = self.birth_date.day + (60 if self.coordination else 0)
        return f"{self.birth_date:%Y%m}{day:02d}{self.serial}{self.check}"

    @property
    def masked(self) -> str:
        return mask(self.normalised)


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def parse(raw: str, *, today: date | None = None) -> Personnummer:
    """Parse any common written form. Raises InvalidPersonnummer naming the problem."""
    text = (raw or "").strip().replace(" ", "")
    match = _PATTERN.match(text)
    if not match:
        raise InvalidPersonnummer("Ange personnumret som ÅÅÅÅMMDD-NNNN (12 siffror) eller ÅÅMMDD-NNNN.")
    yymmdd, serial, check = match["yymmdd"], match["serial"], match["check"]
    today = today or date.today()
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    coordination = day > 60
    if coordination:
        day -= 60
    if match["century"]:
        year = int(match["century"]) * 100 + yy
    else:
        year = (today.year // 100) * 100 + yy
        if year > today.year:
            year -= 100
        if match["sep"] == "+":
            year -= 100
    try:
        birth_date = date(year, month, day)
    except ValueError as exc:
        raise InvalidPersonnummer("Personnumret innehåller inget giltigt datum.") from exc
    if birth_date > today:
        raise InvalidPersonnummer("Personnumrets födelsedatum ligger i framtiden.")
    if luhn_check_digit(yymmdd + serial) != int(check):
        raise InvalidPersonnummer("Personnumrets kontrollsiffra stämmer inte.")
    return Personnummer(birth_date=birth_date, serial=serial, check=check, coordination=coordination)


def normalise(raw: str) -> str:
    """The twelve-digit storage form, YYYYMMDDNNNC."""
    return parse(raw).normalised


def is_valid(raw: str) -> bool:
    try:
        parse(raw)
    except InvalidPersonnummer:
        return False
    return True


def mask(value: str) -> str:
    """Keep the birth date, hide the serial and check digits: 20150612-****.

    The birth date alone does not identify a pupil within a school, while the last four digits do
    (and encode legal gender), so these are what a viewer without need may not see.
    """
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 12:
        return f"{digits[:8]}-****"
    if len(digits) == 10:
        return f"{digits[:6]}-****"
    return "********"


def mask_in_text(text: str) -> str:
    return PERSONNUMMER_IN_TEXT.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}-****", text)
