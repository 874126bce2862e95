"""A small custom component: a kernel grid you paint with the mouse (drag to paint, right-click for 0)."""

from __future__ import annotations

import streamlit as st

HTML = '<div class="kernel-paint"></div>'

CSS = """
.kernel-paint { user-select: none; font-family: var(--st-font, sans-serif); }
.kernel-paint table { border-collapse: collapse; cursor: crosshair; }
.kernel-paint td {
  width: 2.6rem; height: 2.6rem; text-align: center; font-size: 0.8rem;
  border: 1px solid #c9d1dd; color: #14181f;
}
.kernel-paint td.dark { color: #ffffff; }
.kernel-paint .hint { font-size: 0.8rem; color: #5b6472; margin-top: 0.3rem; }
"""

# Diverging colours as in explorer.images.plots.DIVERGING: blue < 0 < red, white at 0.
JS = """
function colour(value, limit) {
  const t = Math.max(-1, Math.min(1, value / limit));
  const white = [247, 247, 247], red = [178, 24, 43], blue = [33, 102, 172];
  const end = t >= 0 ? red : blue, a = Math.abs(t);
  const rgb = white.map((w, i) => Math.round(w + a * (end[i] - w)));
  return { css: `rgb(${rgb.join(",")})`, dark: a > 0.6 };
}
function label(value) {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 0.01 ? value.toPrecision(3).replace(/\\.?0+$/, "") : value.toExponential(1);
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const root = parentElement.querySelector(".kernel-paint");
  const grid = data.kernel.map((row) => row.slice());
  const brush = Number(data.brush);
  let painting = false, changed = false, paintValue = brush;

  function draw() {
    const limit = Math.max(1e-12, ...grid.flat().map(Math.abs));
    const table = document.createElement("table");
    grid.forEach((row, r) => {
      const tr = document.createElement("tr");
      row.forEach((value, c) => {
        const td = document.createElement("td");
        const { css, dark } = colour(value, limit);
        td.style.background = css;
        if (dark) td.classList.add("dark");
        td.textContent = label(value);
        td.dataset.r = r; td.dataset.c = c;
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    const hint = document.createElement("div");
    hint.className = "hint";
    hint.textContent = `Drag to paint ${label(brush)}; right-click or shift-drag paints 0.`;
    root.replaceChildren(table, hint);
  }
  function paint(td) {
    if (!td || td.dataset.r === undefined) return;
    const r = Number(td.dataset.r), c = Number(td.dataset.c);
    if (grid[r][c] !== paintValue) { grid[r][c] = paintValue; changed = true; draw(); }
  }
  function finish() {
    if (painting && changed) setTriggerValue("painted", grid);
    painting = false; changed = false;
  }
  root.onmousedown = (e) => {
    e.preventDefault();
    painting = true;
    paintValue = e.button === 2 || e.shiftKey ? 0 : brush;
    paint(e.target.closest("td"));
  };
  root.onmouseover = (e) => { if (painting) paint(e.target.closest("td")); };
  root.oncontextmenu = (e) => e.preventDefault();
  root.onmouseup = finish;
  root.onmouseleave = finish;
  draw();
}
"""

_paint_grid = st.components.v2.component("cnn_explorer.kernel_paint", html=HTML, css=CSS, js=JS)


def paint_grid(kernel: list[list[float]], *, brush: float, key: str) -> list[list[float]] | None:
    """Draw the paintable grid; returns the painted kernel (rows) in the run after a stroke."""
    result = _paint_grid(
        data={"kernel": kernel, "brush": brush},
        key=key,
        on_painted_change=lambda: None,  # surfaces the "painted" trigger in the result
    )
    return result.painted
