"""`python -m explorer.attributions`: Captum's maps for one picture and class, from a terminal."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from explorer.attributions.methods import (
    METHODS,
    AttributionSettings,
    attribute,
    check_methods,
    check_work,
    passes,
)
from explorer.attributions.sanity import randomised_similarity
from explorer.featurevis.inputs import example_images, loaded_network


def build_parser() -> argparse.ArgumentParser:
    defaults = AttributionSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.attributions",
        description="Saliency, integrated gradients, SmoothGrad, Grad-CAM and occlusion (Captum) "
                    "for one picture and one class, and how much each map changes when the "
                    "network's weights are randomised (Adebayo et al. 2018).")
    parser.add_argument("--network", default="default",
                        help="default (the app's Shapes network, offline) or a torchvision name "
                             "such as resnet18 (cached ImageNet weights)")
    parser.add_argument("--sample", type=int, default=0,
                        help="which picture: the Shapes test set for default, else the built-in "
                             "photos (default 0)")
    parser.add_argument("--class", dest="class_index", type=int,
                        help="class to explain (default: the network's top class)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, of {','.join(METHODS)} (default: all)")
    parser.add_argument("--steps", type=int, default=defaults.ig_steps,
                        help="integrated gradients' steps")
    parser.add_argument("--samples", type=int, default=defaults.smoothgrad_samples,
                        help="SmoothGrad's noisy samples")
    parser.add_argument("--patch", type=int, default=defaults.occlusion_patch,
                        help="occlusion patch in pixels (0: an eighth of the picture)")
    parser.add_argument("--stride", type=int, default=defaults.occlusion_stride,
                        help="occlusion stride in pixels (0: the patch)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--randomised", action="store_true",
                        help="also randomise every weight and report each map's Spearman rank "
                             "similarity to the trained network's map")
    parser.add_argument("--json", action="store_true", help="one JSON line per method")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loaded = loaded_network(args.network)
        methods = check_methods(args.methods)
        settings = AttributionSettings(ig_steps=args.steps, smoothgrad_samples=args.samples,
                                       occlusion_patch=args.patch, occlusion_stride=args.stride,
                                       seed=args.seed)
    except ValueError as error:
        parser.error(str(error))
    from explorer.networks import activations, layer_costs

    if not loaded.pretrained:  # the maps are a random network's: say so before them
        print(f"Note: {loaded.message}", file=sys.stderr)
    pictures, source = example_images(args.network, loaded.input_shape[1])
    if not 0 <= args.sample < len(pictures):
        parser.error(f"--sample must be 0 to {len(pictures) - 1} ({source}); got {args.sample}.")
    x = loaded.transforms(pictures[args.sample])[None]  # (1, C, H, W) as the network sees it
    scores = activations.forward(loaded.model, x)[0]
    index = int(scores.argmax()) if args.class_index is None else args.class_index
    if not 0 <= index < len(scores):
        parser.error(f"--class must be 0 to {len(scores) - 1}; got {index}.")
    macs = layer_costs.table_totals(layer_costs.layer_table(loaded.model, tuple(x.shape))).macs
    try:
        count = passes(methods, settings, tuple(x.shape[-2:]))
        check_work(macs, count * (2 if args.randomised else 1))
    except ValueError as error:
        parser.error(str(error))
    maps = attribute(loaded.model, x, index, methods=methods, settings=settings,
                     layer=loaded.gradcam_layer)
    similarity = randomised_similarity(
        loaded.model, x, index, methods=methods, settings=settings,
        layer=loaded.gradcam_layer) if args.randomised else {}
    label = loaded.categories[index] if index < len(loaded.categories) else str(index)
    for name, result in maps.items():
        row = {"method": name, "finite": result.finite,
               "std": round(float(result.values.std()), 8) if result.finite else None,
               "seconds": round(result.seconds, 3), "network": args.network,
               "pretrained": loaded.pretrained,
               "sample": args.sample, "class": index, "class_name": label}
        if args.randomised:
            value = similarity[name]
            row["randomised_similarity"] = None if math.isnan(value) else round(value, 4)
        if args.json:
            print(json.dumps(row))
        else:
            extra = (f"   rank similarity after randomising: {row['randomised_similarity']}"
                     if args.randomised else "")
            print(f"{METHODS[name].label:22s} std {row['std']}   {result.seconds:6.2f} s{extra}")
    if not args.json:
        print(f"{args.network}, {source} #{args.sample}, class {index} ({label}).",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
