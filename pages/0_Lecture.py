"""Page 0: the lecture's demos in order, each one click from its page set up."""

from explorer.ui.lecture_page import render_lecture

render_lecture()
