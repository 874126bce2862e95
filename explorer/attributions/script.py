"""The "Show the code" script: the Attributions tab's maps with captum, torch and torchvision only."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from explorer.attributions.methods import METHODS, AttributionSettings, check_methods
from explorer.networks.private_copy import copy_of

DEFAULT_WEIGHTS = "assets/default_net.pt"


def hooked_module(model: nn.Module, layer: str) -> str:
    """A module path for Captum's LayerGradCam standing for the app's Grad-CAM node `layer`:
    the node's own module, else the module around it ("layer4.1" for "layer4.1.relu_1", the
    block's output), else the last module called before it."""
    modules = dict(model.named_modules())
    parts = layer.split(".")
    for cut in range(len(parts), 0, -1):
        path = ".".join(parts[:cut])
        if path in modules:
            return path
    private = copy_of(model)
    before = private.names[:private.names.index(layer)] if layer in private.names else ()
    called = [private.targets[name] for name in before if name in private.targets]
    return called[-1] if called else ""


def _build(name: str, model: nn.Module, input_shape: tuple[int, int, int],
           mean: Sequence[float], std: Sequence[float], torchvision_name: str | None) -> str:
    """Lines that make `model` (eval mode) and `x` (1, C, H, W) as the network sees it."""
    if torchvision_name:
        return (f'weights = torchvision.models.get_model_weights("{torchvision_name}").DEFAULT\n'
                f'model = torchvision.models.get_model("{torchvision_name}", weights=weights)'
                ".eval()\n"
                "preprocess = weights.transforms()  # resize, crop, to tensor, normalise\n"
                'x = preprocess(Image.open("cat.jpg").convert("RGB")).unsqueeze(0)  # (1, 3, H, W)\n')
    channels, height, width = input_shape
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else []
    if children and all(next(m.children(), None) is None for _, m in children):
        layers = "\n".join(f'    ("{key}", nn.{module!r}),' for key, module in children)
        build = (f"# {name}, layer by layer as the app built it\n"
                 f"model = nn.Sequential(OrderedDict([\n{layers}\n]))\n"
                 f'payload = torch.load("{DEFAULT_WEIGHTS}", weights_only=True)  # or a Train-page run\n'
                 'model.load_state_dict(payload["state_dict"])\nmodel.eval()\n')
    else:
        build = (f'model = load_run("{DEFAULT_WEIGHTS}").model.eval()  # the app rebuilds it\n')
    mean_text = ", ".join(f"{v:.4f}" for v in mean)
    std_text = ", ".join(f"{v:.4f}" for v in std)
    return (build + "torch.manual_seed(0)\n"
            f"picture = torch.rand(1, {channels}, {height}, {width})  # yours here, in [0, 1]\n"
            f"mean = torch.tensor([{mean_text}]).view(1, -1, 1, 1)\n"
            f"std = torch.tensor([{std_text}]).view(1, -1, 1, 1)\n"
            "x = (picture - mean) / std  # (1, C, H, W) as the network sees it\n")


def attribution_script(name: str, model: nn.Module, input_shape: tuple[int, int, int],
                       class_index: int, class_name: str, methods: Sequence[str],
                       settings: AttributionSettings, layer: str | None, *,
                       mean: Sequence[float] = (), std: Sequence[float] = (),
                       torchvision_name: str | None = None) -> str:
    """A runnable script computing these maps with captum and printing each one's shape and std
    (the app's numbers for the same picture)."""
    methods = check_methods(methods)
    channels, height, width = input_shape
    if torchvision_name:
        head = "import torch\nimport torchvision\nfrom PIL import Image\n"
    elif isinstance(model, nn.Sequential):
        head = "from collections import OrderedDict\n\nimport torch\nfrom torch import nn\n"
    else:
        head = "import torch\n\nfrom explorer.training.runs import load_run\n"
    used = {"saliency": ["Saliency"], "integrated_gradients": ["IntegratedGradients"],
            "smoothgrad": ["NoiseTunnel", "Saliency"], "occlusion": ["Occlusion"],
            "gradcam": ["LayerAttribution", "LayerGradCam"]}
    names = sorted({n for method in methods for n in used[method]})
    lines = [head + f"from captum.attr import {', '.join(names)}\n",
             _build(name, model, input_shape, mean, std, torchvision_name)
             + "x.requires_grad_(True)  # Captum differentiates the class score with respect to x\n",
             f"target = {class_index}  # {class_name!r}\nmaps = {{}}  # method -> (1, C or 1, H, W)\n"]
    if "saliency" in methods:
        lines.append('maps["saliency"] = Saliency(model).attribute(x, target=target, abs=True)\n')
    if "integrated_gradients" in methods:
        lines.append('maps["integrated_gradients"] = IntegratedGradients(model).attribute(\n'
                     "    x, baselines=torch.zeros_like(x), target=target, "
                     f"n_steps={settings.ig_steps}, internal_batch_size=16)\n")
    if "smoothgrad" in methods:
        lines.append(f"torch.manual_seed({settings.seed})\n"
                     'maps["smoothgrad"] = NoiseTunnel(Saliency(model)).attribute(\n'
                     f'    x, nt_type="smoothgrad", nt_samples={settings.smoothgrad_samples}, '
                     f"stdevs={settings.noise} * float(x.detach().max() - x.detach().min()),\n"
                     "    target=target, abs=True)\n")
    if "gradcam" in methods and layer is not None:
        module = hooked_module(model, layer)
        lines.append(f'cam = LayerGradCam(model, model.get_submodule("{module}")).attribute(\n'
                     "    x, target=target, relu_attributions=True)  # (1, 1, h, w)\n"
                     'maps["gradcam"] = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), '
                     '"bilinear")\n')
    if "occlusion" in methods:
        patch, stride, _ = settings.occlusion_grid(height, width)
        lines.append("with torch.no_grad():  # zeros: the mean colour after normalising\n"
                     '    maps["occlusion"] = Occlusion(lambda z: model(z).softmax(dim=1))'
                     ".attribute(\n"
                     f"        x, sliding_window_shapes=({channels}, {patch}, {patch}), "
                     f"strides=({channels}, {stride}, {stride}),\n"
                     "        baselines=0.0, target=target, perturbations_per_eval=16)\n")
    summed = [m for m in methods if METHODS[m].channels == "sum"]
    lines.append(f"for name, value in maps.items():\n"
                 f"    # (H, W): a pixel's channels summed for {', '.join(summed) or 'none'}; "
                 "the others give each channel the same value\n"
                 f"    pixel = value[0].sum(0) if name in {tuple(summed)!r} else value[0].mean(0)\n"
                 '    print(name, tuple(pixel.shape), f"std {pixel.std(correction=0).item():.6g}")\n')
    return "\n".join(lines)
