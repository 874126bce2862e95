"""The drawing pad: draw with mouse or touch; the strokes come back to Python when a stroke ends."""

from __future__ import annotations

import streamlit as st

from explorer.images import drawing

HTML = """<div class="draw-pad"><canvas width="256" height="256"></canvas>
<div class="tools"><button data-act="undo">Undo</button><button data-act="clear">Clear</button>
<span class="hint">Draw with the mouse or a finger.</span></div></div>"""

CSS = """
.draw-pad canvas { width: 100%; max-width: 256px; aspect-ratio: 1; touch-action: none;
  border: 1px solid #c9d1dd; border-radius: 0.4rem; cursor: crosshair; display: block; }
.draw-pad .tools { margin-top: 0.3rem; display: flex; gap: 0.4rem; align-items: center; }
.draw-pad button { font: inherit; font-size: 0.85rem; padding: 0.15rem 0.6rem;
  border: 1px solid #c9d1dd; border-radius: 0.4rem; background: #ffffff; cursor: pointer; }
.draw-pad .hint { font-size: 0.8rem; color: #5b6472; }
"""

JS = """
export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const canvas = parentElement.querySelector("canvas");
  const context = canvas.getContext("2d");
  let strokes = (data.strokes || []).map((s) => ({ ...s, points: s.points.slice() }));
  let current = null;
  function drawStroke(s) {
    context.strokeStyle = s.colour; context.fillStyle = s.colour;
    context.lineWidth = s.size; context.lineCap = "round"; context.lineJoin = "round";
    if (s.points.length === 1) {
      context.beginPath();
      context.arc(s.points[0][0], s.points[0][1], s.size / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.beginPath();
    s.points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.stroke();
  }
  function redraw() {
    context.fillStyle = data.background; context.fillRect(0, 0, 256, 256);
    strokes.forEach(drawStroke);
  }
  function position(e) {
    const box = canvas.getBoundingClientRect();
    return [Math.round(((e.clientX - box.left) * 256) / box.width),
            Math.round(((e.clientY - box.top) * 256) / box.height)];
  }
  function send() { setStateValue("strokes", strokes); }
  canvas.onpointerdown = (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    current = { size: data.brush, colour: data.colour, points: [position(e)] };
    strokes.push(current);
    redraw();
  };
  canvas.onpointermove = (e) => {
    if (!current) return;
    const [x, y] = position(e), last = current.points[current.points.length - 1];
    if (Math.hypot(x - last[0], y - last[1]) < 2) return;  // fewer points, same line
    current.points.push([x, y]);
    redraw();
  };
  canvas.onpointerup = canvas.onpointercancel = () => {
    if (!current) return;
    current = null;
    send();
  };
  parentElement.querySelector('[data-act="undo"]').onclick = () => { strokes.pop(); redraw(); send(); };
  parentElement.querySelector('[data-act="clear"]').onclick = () => { strokes = []; redraw(); send(); };
  redraw();
}
"""

_drawing_pad = st.components.v2.component("cnn_explorer.drawing_pad", html=HTML, css=CSS, js=JS)

BRUSHES = (4, 8, 12, 20, 32)
COLOURS = {"white": "#ffffff", "yellow": "#ffd500", "red": "#e4322b", "green": "#2fb14b",
           "blue": "#2f6fe4"}


def drawing_pad(key: str) -> tuple[drawing.Stroke, ...]:
    """Brush and colour choices and the pad; the strokes drawn so far (checked)."""
    left, right = st.columns(2)
    brush = left.select_slider("Brush", BRUSHES, value=20, key=f"{key}.brush")
    colour = right.selectbox("Colour", list(COLOURS), key=f"{key}.colour")
    state = st.session_state.get(key) or {}
    strokes = drawing.clean_strokes(state.get("strokes") if isinstance(state, dict) else None)
    plain = [{"size": s.size, "colour": s.colour, "points": [list(p) for p in s.points]}
             for s in strokes]
    result = _drawing_pad(
        data={"strokes": plain, "brush": brush, "colour": COLOURS[colour],
              "background": drawing.BACKGROUND},
        default={"strokes": plain}, key=key, on_strokes_change=lambda: None)
    return drawing.clean_strokes(getattr(result, "strokes", plain))
