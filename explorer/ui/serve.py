"""`python -m explorer.ui.serve [streamlit options]`: the app's server, warmed up before anyone visits.

`streamlit run explorer/ui/server_app.py [options]` (run it from the repository root so
.streamlit/config.toml is read): the app as Streamlit's ASGI application, which also redirects
addresses deeper than a page (explorer.deep_links), plus explorer.warmup started with the
process, so the heavy imports and the default network are ready before the first student
connects. `streamlit run explorer/Home.py` serves the same pages without the redirect.
"""

from __future__ import annotations

import sys
from pathlib import Path

SERVER_APP = Path(__file__).resolve().parent / "server_app.py"


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli

    from explorer import warmup

    warmup.start()
    sys.argv = ["streamlit", "run", str(SERVER_APP),
                *(sys.argv[1:] if argv is None else argv)]
    return cli.main()  # click's entry point: parses the options, serves until stopped


if __name__ == "__main__":
    sys.exit(main())
