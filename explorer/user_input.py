"""Every number a user, a link or a command line sends, checked once at the edge by one validator.

A field knows its name as the user sees it, its range and whether it is whole; `check` takes a
value that already is a number (a widget's, a JSON link value's, a stroke's), `parse` takes text
(a command-line argument, a text box). Both refuse what no float can hold, NaN and infinities,
booleans and values out of range with one message that names the field, its limits and the value,
before any work or allocation. `argparse_type` gives the same check to a command line (argparse
then names the argument). Index ranges ("0-7,9") are checked against their limits before they are
expanded into lists.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

MAX_TEXT = 64  # characters of a number's text: far beyond any field's limit, far below a bomb


class InputError(ValueError):
    """A value a user sent that a field does not take; the message is for the user."""


def finite_float(value: object) -> float | None:
    """`value` as a finite float, or None: booleans, non-numbers, NaN, infinities and integers
    too large for a float (10**400 raises OverflowError in float()) are all None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


@dataclass(frozen=True)
class NumberField:
    """A number a user may send: `label` as the page or command line names it, in [low, high]."""

    label: str
    low: float
    high: float
    integer: bool = False

    def _limits(self) -> str:
        if self.integer:
            return f"a whole number from {int(self.low):,} to {int(self.high):,}"
        return f"a number from {self.low:g} to {self.high:g}"

    def _refuse(self, value: object) -> InputError:
        return InputError(f"{self.label} must be {self._limits()}; got {_shown(value)}.")

    def check(self, value: object) -> int | float:
        """`value` (a number) if it fits, as int for whole fields (3.0 -> 3), else InputError."""
        number = finite_float(value)
        if number is None or not self.low <= number <= self.high:
            raise self._refuse(value)
        if self.integer:
            if not number.is_integer():
                raise self._refuse(value)
            return int(number)
        return number

    def parse(self, text: str) -> int | float:
        """The number written in `text` (a command line's, a text box's), checked."""
        cleaned = text.strip() if isinstance(text, str) else ""
        if not cleaned or len(cleaned) > MAX_TEXT:
            raise self._refuse(text)
        try:
            value: int | float = int(cleaned) if self.integer else float(cleaned)
        except (ValueError, OverflowError):
            raise self._refuse(text) from None
        return self.check(value)

    def argparse_type(self) -> Callable[[str], int | float]:
        """For `add_argument(type=...)`: argparse adds the argument's name to the message."""

        def parse(text: str) -> int | float:
            try:
                return self.parse(text)
            except InputError as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        parse.__name__ = self.label  # argparse names the type in some messages
        return parse


def parse_index_ranges(text: str, *, label: str, high: int, max_count: int) -> list[int] | None:
    """"0-7", "0,3,5" or "2-4,9" -> indices in order without repeats; "all" -> None.

    Every index must be 0 to `high` and there may be at most `max_count` of them: both are
    checked on the written numbers before any range is expanded, so "0-999999999" costs nothing.
    """
    cleaned = text.strip() if isinstance(text, str) else ""
    if cleaned.lower() == "all":
        return None
    example = f"use numbers like 0-{min(7, high)}, 0,{min(3, high)} or all"
    if not cleaned or len(cleaned) > 4 * MAX_TEXT:
        raise InputError(f"{label}: {_shown(text)} is not a list of numbers; {example}.")
    field = NumberField(f"Each of the {label.lower()}", 0, high, integer=True)
    spans: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in cleaned.split(","))):
        low_text, dash, high_text = part.partition("-")
        try:
            low = field.parse(low_text)
            top = field.parse(high_text) if dash else low
        except InputError as error:
            raise InputError(f"{str(error)[:-1]} ({example}).") from None
        if top < low:
            raise InputError(f"{label}: the range {part} runs backwards; {example}.")
        spans.append((int(low), int(top)))
    if not spans:
        raise InputError(f"{label}: name at least one; {example}.")
    widest = max(top - low + 1 for low, top in spans)
    if widest > max_count:  # before expanding anything: a range wider than the limit
        raise InputError(f"{label}: at most {max_count} at once; got {widest}.")
    indices = list(dict.fromkeys(i for low, top in spans for i in range(low, top + 1)))
    if len(indices) > max_count:
        raise InputError(f"{label}: at most {max_count} at once; got {len(indices)}.")
    return indices
