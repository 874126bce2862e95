"""`python -m explorer.ui.serve [streamlit options]`: the app's server, warmed up before anyone visits.

The same as `streamlit run explorer/Home.py [options]` (run it from the repository root so
.streamlit/config.toml is read), plus explorer.warmup started with the process, so the heavy
imports and the default network are ready before the first student connects.
"""

from __future__ import annotations

import sys
from pathlib import Path

HOME = Path(__file__).resolve().parents[1] / "Home.py"


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli

    from explorer import warmup

    warmup.start()
    sys.argv = ["streamlit", "run", str(HOME), *(sys.argv[1:] if argv is None else argv)]
    return cli.main()  # click's entry point: parses the options, serves until stopped


if __name__ == "__main__":
    sys.exit(main())
