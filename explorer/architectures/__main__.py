"""`python -m explorer.architectures [--block inception3a] [--variant paper] [--json]`: the ILSVRC
story's numbers and one inception block's counts, as a table or as JSON (nothing downloaded)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from explorer.architectures import ilsvrc, inception


def numbers(block: str, variant: str) -> dict:
    spec = inception.BLOCKS[block]
    return {
        "ilsvrc": [asdict(row) for row in ilsvrc.rows()],
        "inception": {
            "block": asdict(spec) | {"out_channels": spec.out_channels},
            "variant": variant,
            "branches": [asdict(c) for c in inception.branch_costs(spec, variant)],
            "single_convs": [asdict(c) for c in inception.single_convs(spec)],
            "reductions": [asdict(r) for r in inception.reductions(spec, variant)],
        },
    }


def _text(found: dict) -> str:
    lines = ["ILSVRC top-5 error (the lecture) and torchvision's weights metadata",
             f"{'network':16} {'year':>4} {'top-5 %':>8} {'params M':>9} {'GFLOPS':>7} "
             f"{'tv top-5 %':>10}"]
    for r in found["ilsvrc"]:
        def cell(value, form: str, width: int) -> str:
            return f"{value:{width}{form}}" if value is not None else f"{'-':>{width}}"
        lines.append(f"{r['label']:16} {r['year']:>4} {r['top5_error']:8.1f} "
                     f"{cell(r['parameters_m'], '.1f', 9)} {cell(r['gflops'], '.2f', 7)} "
                     f"{cell(r['torchvision_top5_error'], '.2f', 10)}")
    block = found["inception"]["block"]
    lines += ["", f"{block['name']} ({found['inception']['variant']}): ({block['in_channels']}, "
              f"{block['side']}, {block['side']}) -> ({block['out_channels']}, {block['side']}, "
              f"{block['side']})",
              f"{'branch':6} {'out':>4} {'weights':>9} {'params':>9} {'mult-adds':>12}  layers"]
    branches = found["inception"]["branches"]
    for c in branches:
        lines.append(f"{c['branch']:6} {c['out_channels']:4d} {c['conv_weights']:9,d} "
                     f"{c['parameters']:9,d} {c['macs']:12,d}  {c['layers']}")
    lines.append(f"{'total':6} {block['out_channels']:4d} "
                 f"{sum(c['conv_weights'] for c in branches):9,d} "
                 f"{sum(c['parameters'] for c in branches):9,d} "
                 f"{sum(c['macs'] for c in branches):12,d}")
    for s in found["inception"]["single_convs"]:
        lines.append(f"one {s['kernel']}x{s['kernel']} conv {block['in_channels']}->"
                     f"{block['out_channels']}: {s['conv_weights']:,d} weights, "
                     f"{s['macs']:,d} mult-adds")
    for r in found["inception"]["reductions"]:
        lines.append(f"{r['branch']} branch: 1x1 to {r['reduced_to']} then {r['kernel']}x"
                     f"{r['kernel']} to {r['out_channels']}: {r['with_reduction']:,d} weights "
                     f"(without the reduction {r['without']:,d})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.architectures",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--block", choices=list(inception.BLOCKS), default="inception3a")
    parser.add_argument("--variant", choices=list(inception.VARIANTS), default="torchvision")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    found = numbers(args.block, args.variant)
    print(json.dumps(found, indent=1) if args.json else _text(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
