"""The Lecture page in a real browser: every card opens its demo in one click, in presenter mode,
on projector-sized screens, with the main figure above the fold and no error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from explorer.catalogue import PAGES_BY_KEY
from explorer.lecture.demos import DEMOS
from tests.test_browser import (  # noqa: F401
    ALL_IMAGES_LOADED,
    APP_IDLE,
    MAIN,
    TIMEOUT_MS,
    assert_no_error,
    page,
    wait_idle,
)

pytestmark = pytest.mark.browser

# What counts as a demo's main figure: charts, pictures, tables and numbers in the main area.
FIGURES = (f'{MAIN} [data-testid="stPlotlyChart"], {MAIN} [data-testid="stImage"], '
           f'{MAIN} [data-testid="stDataFrame"], {MAIN} [data-testid="stMetric"]')
# The figure must start above the fold with at least this much of it on screen.
VISIBLE_PX = 150
SIZES = {"1280x720": (1280, 720), "1920x1080": (1920, 1080)}


def card_link(tab, demo):
    card = tab.locator(f'{MAIN} [data-testid="stColumn"] [data-testid="stVerticalBlock"]',
                       has_text=f"{demo.key} · {demo.title}").last
    return card.locator('[data-testid="stPageLink-NavLink"]').first


def first_figure_top(tab) -> float | None:
    """The top of the first visible figure in the main area, in viewport pixels."""
    tab.wait_for_function(  # drawn: charts come after the script has finished
        "sel => [...document.querySelectorAll(sel)].some(e => e.getBoundingClientRect().height > 20)",
        arg=FIGURES, timeout=TIMEOUT_MS)
    tops = [box["y"] for box in (f.bounding_box() for f in tab.locator(FIGURES).all())
            if box is not None and box["height"] > 20]
    return min(tops) if tops else None


def settled_figure_top(tab) -> float | None:
    """first_figure_top once the layout has stopped moving (after a resize the charts reflow):
    until two looks 200 ms apart agree, bounded by the browser timeout."""
    top, previous, looks_left = first_figure_top(tab), None, TIMEOUT_MS // 200
    while top != previous and looks_left > 0:
        tab.wait_for_timeout(200)
        previous, top, looks_left = top, first_figure_top(tab), looks_left - 1
    return top


def test_every_card_opens_its_demo_in_presenter_mode(browser, server_url: str,
                                                     screenshot_dir: Path) -> None:
    """Each card is opened once and looked at on both projector sizes (a resize reflows the
    page in the browser; the server is not asked again)."""
    width, height = next(iter(SIZES.values()))  # opened at the first size
    context = browser.new_context(viewport={"width": width, "height": height})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto(f"{server_url}/lecture?present=1")
        wait_idle(tab, "Lecture")
        for demo in DEMOS:
            link = card_link(tab, demo)
            link.scroll_into_view_if_needed()
            link.click()  # inside the open session: the link's settings must apply
            tab.wait_for_function(
                f"() => location.pathname === '/{demo.page}'", timeout=TIMEOUT_MS)
            wait_idle(tab, PAGES_BY_KEY[demo.page].title)
            assert tab.locator('[data-testid="stException"]').count() == 0, demo.key
            assert tab.locator(f'{MAIN} [data-testid="stAlertContentError"]').count() == 0, \
                demo.key
            if "tab" in demo.params:
                selected = tab.locator(f'{MAIN} [role="tab"][aria-selected="true"]').first
                assert selected.inner_text().strip() == demo.params["tab"], demo.key
            for size, (size_width, size_height) in SIZES.items():
                tab.set_viewport_size({"width": size_width, "height": size_height})
                top = settled_figure_top(tab)
                assert top is not None and top <= size_height - VISIBLE_PX, (demo.key, size, top)
                sidebar = tab.locator('[data-testid="stSidebar"]').first.bounding_box()
                assert sidebar is None or sidebar["width"] < 50, (demo.key, size)  # tucked away
                tab.screenshot(path=screenshot_dir / f"lecture-{demo.key}-{size}.png")
            tab.set_viewport_size({"width": width, "height": height})
            tab.locator(f'{MAIN} [data-testid="stPageLink-NavLink"]',
                        has_text="Back to the lecture").first.click()
            wait_idle(tab, "Lecture")
        assert not errors, errors
    finally:
        context.close()


def test_an_address_deeper_than_a_page_opens_the_page(page, server_url: str) -> None:  # noqa: F811
    page.goto(f"{server_url}/convolution/deeper/still?stride=2")
    wait_idle(page, "Convolution")
    assert urlparse(page.url).path == "/convolution"
    assert "stride=2" in page.url
    assert_no_error(page)


def click_cell(tab, chart, row: int, col: int, shape: tuple[int, int],
               expected: str, attempts: int = 4) -> None:
    """Click the centre of cell (row, col) of the chart's rows x cols grid (its plot area)
    until `expected` shows. The chart must first stop moving (pictures above it still loading
    shift it down), and a click that selected nothing leaves the app idle without `expected`:
    then click again. (One such missed click hung a full run for the whole browser timeout.)
    `chart` is the chart's own locator, found by its title: counting drag layers across all
    charts clicked another chart when one above had not drawn its layer yet."""
    area = chart.locator(".nsewdrag").first
    shown = tab.locator(MAIN, has_text=expected).first
    for _ in range(attempts):
        tab.wait_for_function(ALL_IMAGES_LOADED, timeout=TIMEOUT_MS)
        box, previous = area.bounding_box(), None
        while box != previous:  # wait on progress: until two looks 200 ms apart agree
            tab.wait_for_timeout(200)
            previous, box = box, area.bounding_box()
        tab.mouse.click(box["x"] + (col + 0.5) * box["width"] / shape[1],
                        box["y"] + (row + 0.5) * box["height"] / shape[0])
        tab.wait_for_timeout(300)
        tab.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
        if shown.count():
            return
    raise AssertionError(f"{expected!r} not shown after {attempts} clicks on the cell")


def test_clicking_a_cell_steps_there(page, server_url: str) -> None:  # noqa: F811
    """The lecture's 5x5 example: a click on output cell (2, 2) shows its sum, 14."""
    demo = next(d for d in DEMOS if d.key == "S5")
    page.goto(server_url + demo.link)
    wait_idle(page, "Convolution")
    charts = f'{MAIN} [data-testid="stPlotlyChart"]'
    page.wait_for_function(  # plotly draws its titles (SVG text) after the script has run
        "sel => [...document.querySelectorAll(sel)].some(c => c.textContent.includes("
        "'Output (click a cell)'))", arg=charts, timeout=TIMEOUT_MS)
    output = page.locator(charts).filter(has_text="Output (click a cell)").first
    click_cell(page, output, 2, 2, (3, 3), "Output[2, 2]")
    assert "= 14" in page.locator(MAIN).inner_text().replace("*", "")
    assert_no_error(page)


def test_clicking_a_unit_shows_its_receptive_field(page, server_url: str) -> None:  # noqa: F811
    page.goto(f"{server_url}/layers?tab=Receptive+field")
    wait_idle(page, "CNN layers")
    click_cell(page, page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').first, 2, 3, (22, 22),
               # five 3x3 convolutions: a 22x22 output
               "Unit (2, 3) sees input rows 2-12, columns 3-13")
    assert_no_error(page)
