"""`python -m explorer.convolution pattern [--template cross] [--scene NAME] [--row R --col C]
[--json]`: the pattern-matching numbers (the lecture's 3x8 example, both peaks, conv vs dense)."""

from __future__ import annotations

import argparse
import json
import sys

from explorer.convolution import dense_conv
from explorer.convolution import pattern_matching as pm


def pattern_numbers(template: str, scene: str, row: int, col: int) -> dict:
    example = pm.lecture_example()
    found = pm.match(pm.TEMPLATES[template](), scene, row, col)
    layer = dense_conv.ALEXNET_LAYER2
    counts = dense_conv.conv_vs_dense(layer["c_in"], layer["c_out"], layer["size"],
                                      layer["kernel"])
    return {
        "lecture_3x8": {"Z": example.plain.tolist(), "big": [*example.big, example.plain[
            example.big]], "small": [*example.small, example.plain[example.small]],
            "peak_of_Z": list(pm.peak(example.plain)), "peak_of_cosine": list(
                pm.peak(example.cosine))},
        "scene": {"template": template, "scene": scene, "pattern_at": [row, col],
                  "peak_of_Z": list(found.plain_peak),
                  "peak_of_NCC": None if found.normalised_peak is None
                  else list(found.normalised_peak)},
        "alexnet_layer2": {"conv_weights": counts.conv_weights,
                           "dense_weights": counts.dense_weights},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.convolution",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pattern = commands.add_parser("pattern", help="the pattern-matching numbers")
    pattern.add_argument("--template", choices=list(pm.TEMPLATES), default="cross")
    pattern.add_argument("--scene", choices=list(pm.BACKGROUNDS),
                         default="noise and a bright square")
    pattern.add_argument("--row", type=int, default=40)
    pattern.add_argument("--col", type=int, default=20)
    pattern.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        found = pattern_numbers(args.template, args.scene, args.row, args.col)
    except ValueError as error:  # a position outside the scene: the message says the range
        parser.error(str(error))
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    lecture, scene = found["lecture_3x8"], found["scene"]
    print("The lecture's 3x8 example, Z = correlate2d(X, W, 'valid') with W = (4, 4):")
    for row in lecture["Z"]:
        print("  " + " ".join(f"{v:3g}" for v in row))
    print(f"Big: Z{tuple(lecture['big'][:2])} = {lecture['big'][2]:g}; Small: "
          f"Z{tuple(lecture['small'][:2])} = {lecture['small'][2]:g}; peak of Z at "
          f"{tuple(lecture['peak_of_Z'])}, of the cosine at {tuple(lecture['peak_of_cosine'])}")
    print(f"{scene['template']} at {tuple(scene['pattern_at'])} in '{scene['scene']}': peak of Z "
          f"at {tuple(scene['peak_of_Z'])}, peak of NCC at "
          f"{tuple(scene['peak_of_NCC']) if scene['peak_of_NCC'] else 'undefined'}")
    counts = found["alexnet_layer2"]
    print(f"AlexNet layer 2: conv {counts['conv_weights']:,} weights, dense "
          f"{counts['dense_weights']:,} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
