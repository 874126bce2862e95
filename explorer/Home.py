"""Entrypoint (`streamlit run explorer/Home.py`): page config, navigation over pages/, the Home page."""

import sys
from pathlib import Path

# `streamlit run explorer/Home.py` puts explorer/ on sys.path, not the repository root; add the
# root so `import explorer....` works without an install (never import modules of explorer bare).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from explorer import warmup  # noqa: E402
from explorer.catalogue import PAGES  # noqa: E402
from explorer.jobs import memory  # noqa: E402
from explorer.ui.heartbeat import keep_jobs_alive  # noqa: E402
from explorer.ui.home import render_home  # noqa: E402
from explorer.ui.presenter import presenter_toggle  # noqa: E402
from explorer.ui.state import keep_widget_state, write_url  # noqa: E402

keep_widget_state()
with st.sidebar:
    presenting = presenter_toggle()
st.set_page_config(
    page_title="CNN Explorer",
    page_icon=str(ROOT / "assets" / "icon.png"),
    layout="wide",
    initial_sidebar_state="collapsed" if presenting else "expanded",
)

home = st.Page(render_home, title="Home", icon=":material/home:", url_path="home", default=True)
pages = [st.Page(p.script, title=p.title, icon=p.icon, url_path=p.key) for p in PAGES]
navigation = st.navigation([home, *pages])
with st.sidebar:
    keep_jobs_alive()  # training goes on while this tab shows another page
navigation.run()
write_url()  # after the page ran: its settings, mirrored in the address bar
memory.freeze_long_lived()  # modules and models that appeared in this run leave the GC's way
memory.collect_soon()  # instead of Streamlit's collection after every run (config.toml)
warmup.start()  # once per process, in the background: torch and the default network
