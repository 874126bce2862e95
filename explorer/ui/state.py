"""Widget state that survives switching pages, and page settings mirrored in the URL."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

KEEP_PREFIX = "keep."
_KEPT = "_kept_values"  # kept key -> its latest value, in plain state Streamlit never cleans up
_URL_FIELDS = "_url_fields"  # url name -> widget key, registered by seed() during this run
_URL_WRITTEN = "_url_written"  # url names written after the previous run
_URL_SEEN = "_url_seen"  # url name -> the text last read from or written to the address bar
_URL_APPLIED = "_url_applied"  # url names whose new link value seeded a widget in this run

# A link value longer than this is refused unread: the longest real one, a 9x9 grid of
# full-precision floats, is about 2,000 characters.
MAX_LINK_TEXT = 8000
# Deepest nesting any link value has: a bank or a grid is a list of rows of scalars.
MAX_LINK_DEPTH = 2
INVALID = object()  # what _decode returns for a value no validator may accept


def kept(key: str) -> str:
    """A widget key whose value is kept while the user visits other pages."""
    return KEEP_PREFIX + key


def keep_widget_state() -> None:
    """Call once per rerun from the entrypoint, before the page runs.

    Assigning a widget's value back to its key turns it into plain session state, so
    Streamlit's end-of-run clean-up does not drop the widgets of pages not shown. That is not
    enough on its own: after a fragment run (the training heartbeat, the Train page's live
    view) the values live under the widgets' ids again, and the clean-up Streamlit does when
    the next run switches pages drops them before this function runs. So every kept value is
    also remembered in plain state (`_KEPT`) and put back when Streamlit has dropped it.
    """
    remembered = st.session_state.setdefault(_KEPT, {})
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP_PREFIX):
            remembered[key] = st.session_state[key]  # the latest: edits and callbacks included
    for key, value in remembered.items():
        st.session_state[key] = value
    st.session_state[_URL_FIELDS] = {}
    st.session_state[_URL_APPLIED] = set()


def _remember(key: str) -> None:
    if key.startswith(KEEP_PREFIX) and key in st.session_state:
        st.session_state.setdefault(_KEPT, {})[key] = st.session_state[key]


# ---------------------------------------------------------------- validators


class Check:
    """A validator: `check(value)` says whether a value may seed a widget (never raises);
    `check.coerce(value)` gives an accepted value the exact type the widget wants."""

    def __init__(self, accepts: Callable[[Any], bool],
                 coerce: Callable[[Any], Any] = lambda value: value) -> None:
        self._accepts = accepts
        self.coerce = coerce

    def __call__(self, value: Any) -> bool:
        return accepts(self._accepts, value)


def accepts(valid: Callable[[Any], bool], value: Any) -> bool:
    """valid(value), where a validator that raises (unhashable, wrong type) counts as False."""
    if value is INVALID:
        return False
    try:
        return bool(valid(value))
    except Exception:  # noqa: BLE001 - any error in a validator means "not a valid value"
        return False


def _is_number(value: Any) -> bool:
    """int or float, not bool (True == 1 in Python, but a link's `true` is not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_choice(value: Any, option: Any) -> bool:
    # 1.0 == True == 1 in Python: booleans match only booleans, numbers only numbers.
    if isinstance(option, bool) or isinstance(value, bool):
        return value is option
    if _is_number(option):
        return _is_number(value) and value == option
    return type(value) is type(option) and value == option


def one_of(options: Sequence) -> Check:
    """Accepts exactly one of `options` (by kind: `1.0` is not `True`, `"3"` is not `3`);
    coerces to that option, so a link's 1 for an option 1.0 reaches the widget as 1.0."""
    choices = tuple(options)

    def find(value: Any) -> Any:
        return next(option for option in choices if _same_choice(value, option))

    return Check(lambda value: any(_same_choice(value, option) for option in choices), find)


def boolean() -> Check:
    """Accepts True or False only (not 1, 1.0, "true")."""
    return one_of((True, False))


def number_in(low: float, high: float, *, integer: bool = False) -> Check:
    """A finite number in [low, high]; with `integer` a whole one (3.0 is taken as 3)."""

    def check(value: Any) -> bool:
        if not _is_number(value) or not low <= value <= high:  # NaN fails the comparison
            return False
        return not integer or float(value).is_integer()

    return Check(check, (lambda v: int(v)) if integer else (lambda v: float(v)))


def text_matching(pattern: str) -> Check:
    """A string that fully matches the regular expression `pattern`."""
    compiled = re.compile(pattern)
    return Check(lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None)


# ---------------------------------------------------------------- seeding widgets


def seed(key: str, default: Any, *, valid: Callable[[Any], bool], url: str | None = None,
         link_valid: Callable[[Any], bool] | None = None) -> str:
    """Give a widget its first value and return its key; create the widget with no default.

    The value comes from `?url=...` when the address carries a link value this session has not
    seen yet (a copied link on the first visit, or a lecture card's link followed inside an open
    session), else from the widget's own state, else from `default`. A bad link value is ignored
    with a note naming the parameter, once. With `url`, the widget's value is written back to
    the address bar after the page has run, so a copied link reopens the same view; that echo
    counts as seen, so it never overrides what the user does next (nor seeds another widget that
    shares the name, e.g. k_size written for the previous kernel preset). `link_valid` (with
    its coerce) judges link values when they must be stricter than what a user may type.
    """
    seen = st.session_state.setdefault(_URL_SEEN, {})
    text = st.query_params.get(url) if url is not None else None
    if text is not None and seen.get(url) != text:
        seen[url] = text
        candidate = _decode(text)
        checker = link_valid or valid
        if accepts(checker, candidate):
            st.session_state[key] = _coerce(checker, candidate)
            st.session_state.setdefault(_URL_APPLIED, set()).add(url)
        else:
            ignored(url)
    if key not in st.session_state or not accepts(valid, st.session_state[key]):
        st.session_state[key] = default
    if url is not None:
        st.session_state.setdefault(_URL_FIELDS, {})[url] = key
    _remember(key)
    return key


def follow_bound_link(name: str, valid: Callable[[Any], bool],
                      coerce: Callable[[str], Any] = lambda text: text) -> None:
    """For a widget Streamlit binds to the URL itself (bind="query-params", e.g. the tabs):
    apply a link value this session has not seen yet. Streamlit treats a link that names the
    default value as no link at all, so a lecture card opening the first tab would otherwise
    leave the tab the previous card opened. Call before the widget is created."""
    text = st.query_params.get(name)
    seen = st.session_state.setdefault(_URL_SEEN, {})
    if text is None or seen.get(name) == text:
        return
    seen[name] = text
    if accepts(valid, text):
        st.session_state[name] = coerce(text)
    else:
        ignored(name)  # Streamlit drops it from the address bar itself


def bound_expander_link(name: str) -> None:
    """follow_bound_link for an expander bound to `?name=true|false`."""
    follow_bound_link(name, lambda text: text in ("true", "false"), lambda text: text == "true")


def link_applied(url: str) -> bool:
    """Whether a new link value of `url=` seeded its widget in this run (a table built from it,
    such as the kernel grid, then starts again from the link's values)."""
    return url in st.session_state.get(_URL_APPLIED, set())


def mirror(key: str, url: str) -> None:
    """Write `key`'s value to the address bar as `url=` after the page has run, never reading
    the link's value into it (a value the page checks itself, such as the owner token: a
    copied link must not hand it over)."""
    text = st.query_params.get(url)
    if text is not None:
        st.session_state.setdefault(_URL_SEEN, {})[url] = text  # read by the page, not here
    st.session_state.setdefault(_URL_FIELDS, {})[url] = key


def ignored(url: str, why: str = "not a value this page can use") -> None:
    """A short note that the link's `url=` value was ignored (shown once, as a toast)."""
    st.toast(f"Ignored the link's `{url}` value: {why}. The page uses its default instead.",
             icon=":material/link_off:")


def _coerce(valid: Callable[[Any], bool], value: Any) -> Any:
    coerce = getattr(valid, "coerce", None)
    return value if coerce is None else coerce(value)


def write_url() -> None:
    """Mirror this run's URL fields in the address bar (call after the page has run).

    Only our own fields are touched: parameters bound by Streamlit itself (tabs) stay.
    """
    fields = st.session_state.get(_URL_FIELDS, {})
    seen = st.session_state.setdefault(_URL_SEEN, {})
    for name in st.session_state.get(_URL_WRITTEN, set()) - set(fields):
        if name in st.query_params:
            del st.query_params[name]
        seen.pop(name, None)
    for name, key in fields.items():
        value = st.session_state.get(key)
        if value is None:
            continue
        try:
            text = value if isinstance(value, str) else json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):  # not JSON (e.g. NaN): leave the address bar alone
            continue
        if st.query_params.get(name) != text:
            st.query_params[name] = text
        seen[name] = text
    st.session_state[_URL_WRITTEN] = set(fields)


# ---------------------------------------------------------------- decoding link values


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _decode(text: Any) -> Any:
    """A link value: JSON scalars and lists (as tuples) up to MAX_LINK_DEPTH deep, else the
    text itself; INVALID for what nothing may accept (too long, objects, NaN/inf, too deep)."""
    if not isinstance(text, str) or len(text) > MAX_LINK_TEXT:
        return INVALID
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # thousands of '[': not a value, and not a name either
        return INVALID
    except ValueError:
        return text  # a bare word: a choice's name such as "gaussian"
    return _freeze(value, 0)


def _freeze(value: Any, depth: int) -> Any:
    """JSON lists as (hashable) tuples; INVALID for objects, non-finite floats, deep nesting."""
    if isinstance(value, list):
        if depth >= MAX_LINK_DEPTH:
            return INVALID
        items = tuple(_freeze(item, depth + 1) for item in value)
        return INVALID if any(item is INVALID for item in items) else items
    if isinstance(value, dict):
        return INVALID
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf
        return INVALID
    return value
