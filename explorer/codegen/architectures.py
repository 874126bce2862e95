"""The Architectures page's "Show the code": scripts that print the ILSVRC table from torchvision's
weights metadata and count an inception block's branches on the real torchvision block."""

from __future__ import annotations


def ilsvrc_code(top5_error: dict[str, float], networks: dict[str, str | None],
                weights: str = "IMAGENET1K_V1") -> str:
    """The lecture's top-5 errors beside each network's parameters and GFLOPS (no download)."""
    lines = [
        "from torchvision.models import get_model_weights",
        "",
        "# The lecture's ILSVRC top-5 error rates (%) and the torchvision network for each",
        f"TOP5_ERROR = {top5_error!r}",
        f"NETWORK = {networks!r}",
        "",
        "for label, error in TOP5_ERROR.items():",
        "    name = NETWORK[label]",
        "    if name is None:",
        "        print(f'{label:16} top-5 {error:5.1f} %')",
        "        continue",
        f"    meta = get_model_weights(name)[{weights!r}].meta  # offline: no download",
        "    print(f\"{label:16} top-5 {error:5.1f} %  {meta['num_params'] / 1e6:6.1f} M parameters\"",
        "          f\"  {meta['_ops']:6.2f} GFLOPS\")",
    ]
    return "\n".join(lines) + "\n"


def inception_code(arguments: tuple[int, ...], side: int, paper: bool = False) -> str:
    """Build torchvision's Inception block (weights=None), count each branch's parameters and
    multiply-adds, and compare one 3x3 convolution of the same output width."""
    c_in = arguments[0]
    lines = [
        "import torch",
        "from torch import nn",
        "from torchvision.models.googlenet import BasicConv2d, Inception",
        "",
        "# in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj (torchvision's order)",
        f"block = Inception{tuple(arguments)!r}.eval()",
    ]
    if paper:
        lines.append(f"block.branch3[1] = BasicConv2d({arguments[4]}, {arguments[5]}, "
                     "kernel_size=5, padding=2)  # the paper's 5x5 (torchvision builds a 3x3)")
    lines += [
        "macs = {}",
        "",
        "",
        "def count(module, inputs, output):",
        "    k1, k2 = module.kernel_size  # each output value: C_in * K1 * K2 multiply-adds",
        "    macs[module] = output.numel() * module.in_channels * k1 * k2",
        "",
        "",
        "for m in block.modules():",
        "    if isinstance(m, nn.Conv2d):",
        "        m.register_forward_hook(count)",
        "with torch.no_grad():",
        f"    out = block(torch.zeros(1, {c_in}, {side}, {side}))",
        "print('output', tuple(out.shape))",
        "for name in ('branch1', 'branch2', 'branch3', 'branch4'):",
        "    branch = getattr(block, name)",
        "    params = sum(p.numel() for p in branch.parameters())",
        "    mult_adds = sum(macs[m] for m in branch.modules() if m in macs)",
        "    print(f'{name}: {params:,} parameters, {mult_adds:,} multiply-adds')",
        f"one = nn.Conv2d({c_in}, out.shape[1], 3, padding=1, bias=False)",
        "print(f'one 3x3 conv: {one.weight.numel():,} weights, '",
        f"      f'{{one.weight.numel() * {side * side}:,}} multiply-adds')",
    ]
    return "\n".join(lines) + "\n"
