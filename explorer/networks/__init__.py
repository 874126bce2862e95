"""Networks to look inside: the torchvision networks offered (model_registry), loaded offline-first
from cached weights (zoo), the app's own networks and uploaded weights (custom, weights_files),
what a network is shown and predicts (predictions), families compared (families), the private
eval-mode copy every pass runs on (private_copy), forward passes, layer names and captured
activations (activations), the layer table with multiply-adds (layer_costs), Grad-CAM by Captum (gradcam),
feature-map statistics and grids (feature_maps), first-layer kernels (first_layer), occlusion
sensitivity (occlusion), results shared by all sessions (shared_results).

May import: explorer.images, explorer.lecture, explorer.jobs, explorer.environment.
"""
