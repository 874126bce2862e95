"""Transfer learning: strategies and adapted copies (adapt), backbones (backbones), new tasks
(tasks), cached features (features), the background job (job), strategies compared (compare),
exports (export). `python -m explorer.transfer` is its command line (__main__).

May import: explorer.training and everything below it.
"""
