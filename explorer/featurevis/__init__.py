"""What a channel looks for: feature visualisation by optimisation (optimise), its background job
(job), channel lists and example pictures (inputs), the top / bottom dataset examples cropped to
the receptive field (dataset_examples). `python -m explorer.featurevis` is its command line
(__main__).

May import: explorer.training and everything below it.
"""
