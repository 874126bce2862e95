"""The Pretrained networks page: the network and picture, predictions and tabs (page), what a
channel looks for: feature visualisation, examples, hierarchy (channels), occlusion (occlusion),
Captum's attributions and the sanity check (attributions)."""
