"""`python -m explorer.train`: the name users know for the training room's command line."""

import runpy

if __name__ == "__main__":
    runpy.run_module("explorer.training", run_name="__main__", alter_sys=True)
