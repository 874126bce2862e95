"""Training a CNN: datasets (data, dataset_zip, augmentation), the lecture's simple CNN (nets),
settings and registries (settings), the background job (job), the LR range test (lr_range),
exports and saved runs (runs), the standalone script (script), the lecture's ablation
(ablation), the app's own networks as models (app_networks). `python -m explorer.training`
(or `python -m explorer.train`) is its command line (__main__).

May import: explorer.networks, explorer.codegen, explorer.images, explorer.jobs, explorer.lecture.
"""
