"""Neural-network playground: a small net learns 2-D data live; neurons, weights and half-spaces."""

from functools import partial

from explorer.ui.playground import run, view
from explorer.ui.playground.form import settings_form, show_problem
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "playground",
    "A small fully connected network learns to separate two classes of points on the plane "
    "(or to fit a surface), live. Every neuron is drawn as its output over the plane; the "
    "lecture's picture of one hidden unit as a half-space, and of the output as a "
    "combination of half-spaces, is in its own tab. Settings are in the sidebar.",
)
settings, problem = settings_form()
if problem:
    show_problem(problem)
run.controls(settings)


def _network() -> None:
    run.show(settings, view.network_panel)
    view.code(settings, run.current_step())


def _halfspaces() -> None:
    unit = view.unit_choice(settings)
    run.show(settings, partial(view.halfspace_panel, unit=unit))


lazy_tabs({
    "Network": _network,
    "Half-spaces": _halfspaces,
    "Data": lambda: view.data_panel(settings),
})
