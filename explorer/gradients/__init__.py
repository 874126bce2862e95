"""Deep networks: vanishing gradients in a deep plain net (per-layer gradient norms, activation
statistics, a few live training steps) and residual vs plain networks trained side by side.

May import: training (data, batches, the thread budget), codegen, images, jobs.
Command line: `python -m explorer.gradients` (`__main__.py`).
"""
