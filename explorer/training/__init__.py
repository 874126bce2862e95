"""Training a CNN: the datasets, the lecture's simple CNN, the background job and its exports.

Datasets (data, dataset_zip, augmentation), the lecture's simple CNN (nets), settings and
registries (settings), the background job (job) with its thread budget and device (compute),
batches, normalisation and starting model (batches), live evaluation (evaluation) and what it
reports (snapshot), the LR range test (lr_range), exports and saved runs (runs), the standalone
script (script), the lecture's ablation (ablation), the app's own networks as models
(app_networks). `python -m explorer.training` (or `python -m explorer.train`) is its command
line (__main__).

May import: explorer.networks, explorer.codegen, explorer.images, explorer.jobs, explorer.lecture.
"""
