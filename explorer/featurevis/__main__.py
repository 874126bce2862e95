"""`python -m explorer.featurevis`: what channels look for, from a terminal (a grid PNG, JSON)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from explorer.featurevis.inputs import channels_argument, example_images, loaded_network
from explorer.featurevis.optimise import (
    JITTER,
    LEARNING_RATE,
    LOGITS,
    SEED,
    SIZE,
    STARTS,
    STEPS,
    TV_WEIGHT,
    VisSettings,
    channel_count,
    check_batch,
    check_units,
    conv_layers,
    unit_values_of_images,
    visualise,
)


def build_parser() -> argparse.ArgumentParser:
    defaults = VisSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.featurevis",
        description="Optimise one picture per channel of a layer to maximise it (the Pretrained "
                    "page's feature visualisation), and compare with the best real example.")
    parser.add_argument("--network", default="default",
                        help="default (the app's Shapes network, offline) or a torchvision name "
                             "such as resnet18 or vgg16 (cached ImageNet weights)")
    parser.add_argument("--layer", help="layer name (see --list-layers) or 'logits'")
    # every number is checked by the same fields as the page's (featurevis.optimise)
    parser.add_argument("--channels", type=channels_argument, default=channels_argument("0-7"),
                        help="0-7, 0,3,5 or all (default 0-7)")
    parser.add_argument("--steps", type=STEPS.argparse_type(), default=defaults.steps)
    parser.add_argument("--size", type=SIZE.argparse_type(),
                        help="picture side (default: the network's input)")
    parser.add_argument("--lr", type=LEARNING_RATE.argparse_type(),
                        default=defaults.learning_rate)
    parser.add_argument("--jitter", type=JITTER.argparse_type(),
                        help="pixels (default: size / 16)")
    parser.add_argument("--tv", type=TV_WEIGHT.argparse_type(), default=defaults.tv_weight,
                        help="TV penalty weight")
    parser.add_argument("--pixels", action="store_true", help="plain pixels, not Fourier")
    parser.add_argument("--start", choices=[start.replace(" ", "-") for start in STARTS],
                        default="noise", help="start from faint noise (default) or from the "
                        "real picture that excites each channel most")
    parser.add_argument("--seed", type=SEED.argparse_type(), default=defaults.seed)
    parser.add_argument("--out", help="write the pictures as one PNG grid here")
    parser.add_argument("--list-layers", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON line per channel")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loaded = loaded_network(args.network)
    except ValueError as error:
        parser.error(str(error))
    model = loaded.model
    if args.list_layers:
        print("\n".join(conv_layers(model) + [LOGITS]))
        return 0
    if not args.layer:
        parser.error("--layer is required (see --list-layers)")
    size = args.size if args.size is not None else loaded.input_shape[1]
    try:
        if args.channels is None:
            args.channels = list(range(channel_count(model, args.layer, loaded.input_shape)))
        check_units(model, args.layer, args.channels, loaded.input_shape)
        check_batch(len(args.channels), size)
        settings = VisSettings(steps=args.steps, size=size, learning_rate=args.lr,
                               jitter=args.jitter if args.jitter is not None else size // 16,
                               tv_weight=args.tv, fourier=not args.pixels, seed=args.seed,
                               start=args.start.replace("-", " "))
    except ValueError as error:
        parser.error(str(error))
    if not loaded.pretrained:  # the figures are a random network's: say so before them
        print(f"Note: {loaded.message}", file=sys.stderr)
    mean, std = loaded.transforms.mean, loaded.transforms.std
    examples, source = example_images(args.network, size)
    started = time.perf_counter()
    result = visualise(model, args.layer, args.channels, mean=mean, std=std, settings=settings,
                       examples=examples)
    seconds = time.perf_counter() - started
    real = unit_values_of_images(model, args.layer, args.channels, examples, mean=mean, std=std)
    best = real.max(axis=0)
    if args.out:
        from explorer.images import plots

        grid = plots.image_grid(result.images, columns=min(8, len(result.units)), pad=2)
        with open(args.out, "wb") as handle:
            handle.write(plots.png_bytes(grid))
    beaten = int((result.values > best).sum())
    for unit, reached, example, index in zip(result.units, result.values, best,
                                             real.argmax(axis=0), strict=True):
        row = {"network": args.network, "pretrained": loaded.pretrained,
               "layer": args.layer, "channel": unit,
               "optimised": round(float(reached), 4), "best_example": round(float(example), 4),
               "best_example_index": int(index), "examples": source,
               "optimised_wins": bool(reached > example), "steps": result.steps_done,
               "size": size, "start": settings.start, "seconds": round(seconds, 2)}
        print(json.dumps(row) if args.json else
              f"channel {unit:3d}: optimised {reached:9.3f}   best example {example:9.3f}"
              f"{'   (optimised wins)' if reached > example else ''}")
    if not args.json:
        print(f"{beaten} of {len(result.units)} channels: the optimised picture beats the best of "
              f"the {source}; {result.steps_done} steps in {seconds:.1f} s.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
