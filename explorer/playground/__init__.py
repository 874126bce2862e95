"""The neural-network playground: 2-D datasets (datasets), input features, activations and the
frozen settings with their limits (settings), the small fully connected net and its trainer
(model), the background job on the job interface (job), the plotly figures of decision
surfaces, neurons, half-spaces and the network graph (figures, halfspace) and the runnable
PyTorch script (script). `python -m explorer.playground` is its command line (__main__).

May import: explorer.training and everything below it. Imports today: explorer.jobs,
explorer.images, explorer.training (the thread budget).
"""
