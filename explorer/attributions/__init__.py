"""Attributions by Captum: saliency, integrated gradients, SmoothGrad, Grad-CAM and occlusion for
one image and one class, as (H, W) maps on one scale (methods); the model-randomisation sanity
check of Adebayo et al. 2018 with rank similarities (sanity); the "Show the code" script that
reproduces them with captum (script). `python -m explorer.attributions` is its command line
(__main__).

May import: explorer.featurevis (its network-by-name and example pictures), explorer.training,
explorer.networks and everything below them.
"""
