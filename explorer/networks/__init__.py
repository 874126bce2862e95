"""Networks to look inside: torchvision's zoo with cached and uploaded weights (zoo,
weights_files), families compared (families), activation capture, layer tables and Grad-CAM
(activations), feature-map statistics and grids (feature_maps), first-layer kernels
(first_layer), occlusion sensitivity (occlusion), results shared by all sessions
(shared_results).

May import: explorer.images, explorer.lecture, explorer.jobs, explorer.environment.
"""
