"""Inside a network: layer names, captured activations, a layer table with MACs, Grad-CAM."""

from __future__ import annotations

import contextlib
import copy
import itertools
import operator
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torchvision.models import feature_extraction
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from explorer.jobs import memory
from explorer.jobs.concurrency import heavy_work

MAX_GROUP = 40  # group_layers splits a top-level block with more names than this
MAX_EXTRACTORS = 16  # cached layer lists per model (each a few hundred KB of generated code)

# ---------------------------------------------------------------------------
# A private view of a shared model
# ---------------------------------------------------------------------------
# A model loaded once per server process is shared by every session, so nothing here may touch
# it: no hooks, no train/eval switch (create_feature_extractor and get_graph_node_names flip the
# mode of the model they trace while they trace it). Every function works on a private copy of
# the module tree that shares the parameter and buffer tensors (no extra memory, a few ms),
# always in eval mode. Copies are cached per model and rebuilt when its modules or tensors are
# replaced; one lock per copy serialises its forward passes (hooks used for MACs and by the
# fallback must see only their own pass; two heavy passes at once only slow each other down on a
# small CPU anyway).


@dataclass(eq=False)
class _Private:
    module: nn.Module  # the private copy, eval mode
    fingerprint: tuple[int, ...]
    traced: bool  # True: FX graph nodes (create_feature_extractor); False: module hooks
    names: tuple[str, ...]  # layers in forward order (node names, or leaf module names)
    targets: dict[str, str]  # FX: node name -> module path for nodes that call a module
    graph: fx.Graph | None = None  # FX: the eval graph returning every layer, never run
    lock: threading.RLock = field(default_factory=threading.RLock)
    extractors: dict[tuple[str, ...], fx.GraphModule] = field(default_factory=dict)
    four_d: tuple[str, ...] | None = None  # names whose output is (B, C, H, W), once known


_PRIVATE: weakref.WeakKeyDictionary[nn.Module, _Private] = weakref.WeakKeyDictionary()
_PRIVATE_LOCK = threading.Lock()


def _fingerprint(model: nn.Module) -> tuple[int, ...]:
    """Identities of the modules and tensors: changes when a layer or a tensor is replaced."""
    return tuple(
        id(obj) for obj in itertools.chain(model.modules(), model.parameters(), model.buffers())
    )


class _OwnThreadTracer(feature_extraction.NodePathTracer):
    """torchvision's tracer, recording only the calls of the thread that traces.

    While FX traces, it patches nn.Module.__call__ and __getattr__ for the whole process. On a
    server another session's forward pass or a training job would then run through this tracer
    and fail ("NameError: module is not installed as a submodule"). Calls from other threads
    go straight to the module.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._thread = threading.get_ident()

    def call_module(self, m: nn.Module, forward, args, kwargs):
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self._thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


_TRACE_LOCK = threading.Lock()


@contextlib.contextmanager
def _thread_safe_tracing() -> Iterator[None]:
    """create_feature_extractor / get_graph_node_names use _OwnThreadTracer inside the body.

    They build their tracer from the module attribute feature_extraction.NodePathTracer; only
    this module calls them, always under _TRACE_LOCK, so swapping the attribute is safe.
    """
    with _TRACE_LOCK:
        original = feature_extraction.NodePathTracer
        feature_extraction.NodePathTracer = _OwnThreadTracer
        try:
            yield
        finally:
            feature_extraction.NodePathTracer = original


def _private(model: nn.Module) -> _Private:
    fingerprint = _fingerprint(model)
    with _PRIVATE_LOCK:
        private = _PRIVATE.get(model)
        if private is None or private.fingerprint != fingerprint:
            private = _make_private(model, fingerprint)
            _PRIVATE[model] = private
        return private


def _make_private(model: nn.Module, fingerprint: tuple[int, ...]) -> _Private:
    # deepcopy with every tensor pre-entered in the memo: new modules, the same tensors.
    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    module = copy.deepcopy(model, memo).eval()
    memory.note_long_lived()  # the copy and its graph live as long as the model
    try:
        with _thread_safe_tracing():
            names = get_graph_node_names(module, suppress_diff_warning=True)[1]  # eval nodes
            extractor = create_feature_extractor(module, return_nodes=names)
    # Tracing fails in many ways (TraceError, TypeError on control flow that depends on the
    # data, unsupported ops): any of them means "use hooks on named modules instead".
    except Exception:
        leaves = [n for n, m in module.named_modules() if n and next(m.children(), None) is None]
        return _Private(module, fingerprint, traced=False, names=tuple(leaves), targets={})
    nodes = {n: node for n, node in _returned_nodes(extractor).items() if node.op != "placeholder"}
    _set_returned_nodes(extractor.graph, nodes)  # every node but the input "x"
    targets = {n: node.target for n, node in nodes.items() if node.op == "call_module"}
    return _Private(
        module, fingerprint, traced=True, names=tuple(nodes), targets=targets, graph=extractor.graph
    )


def _returned_nodes(source: fx.GraphModule | fx.Graph) -> dict[str, fx.Node]:
    graph = source.graph if isinstance(source, fx.GraphModule) else source
    output = next(n for n in graph.nodes if n.op == "output")
    return dict(output.args[0])  # create_feature_extractor returns {name: node}


def _set_returned_nodes(graph: fx.Graph, nodes: dict[str, fx.Node]) -> None:
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = (nodes,)


def _isolate(graph: fx.Graph) -> None:
    """Give each returned node's later users a clone, so the returned tensor stays as computed.

    An in-place op downstream (VGG's ReLU(inplace=True), DenseNet's F.relu(..., inplace=True))
    would otherwise overwrite a conv output before it is returned. For Grad-CAM the returned
    tensor is also the one the rest of the network is computed from (through the clone), so the
    gradient with respect to it is the right one.
    """
    for node in _returned_nodes(graph).values():
        users = [user for user in node.users if user.op != "output"]
        if not users:
            continue
        with graph.inserting_after(node):
            clone = graph.call_method("clone", (node,))
        for user in users:
            user.replace_input_with(node, clone)


def _extractor(private: _Private, layers: tuple[str, ...]) -> fx.GraphModule:
    """A module returning {name: output} for `layers`, cached per layer list.

    Cut from the model's traced graph (what create_feature_extractor does, without tracing the
    model again: 5-50 ms instead of 20-800 ms): return `layers`, drop the nodes they don't need,
    isolate the returned tensors from in-place ops.
    """
    with private.lock:
        if layers not in private.extractors:
            graph = copy.deepcopy(private.graph)  # (a Graph deep-copies its nodes, not modules)
            nodes = _returned_nodes(graph)
            _set_returned_nodes(graph, {name: nodes[name] for name in layers})
            extractor = fx.GraphModule(private.module, graph)  # shares the private modules
            graph.eliminate_dead_code()
            _isolate(graph)
            graph.lint()
            extractor.recompile()
            if len(private.extractors) >= MAX_EXTRACTORS:  # forget the oldest (dicts keep order)
                del private.extractors[next(iter(private.extractors))]
            private.extractors[layers] = extractor
        return private.extractors[layers]


@contextlib.contextmanager
def _forward_hooks(modules: dict[str, nn.Module], hook_factory) -> Iterator[None]:
    """Forward hooks hook_factory(name) on `modules`, always removed on exit."""
    handles = [module.register_forward_hook(hook_factory(name)) for name, module in modules.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_input(x: torch.Tensor) -> torch.Tensor:
    # Untrained networks shrink activations layer by layer until products fall into float32's
    # denormal range (< 1.2e-38), where x86 CPUs are 50-100x slower (MobileNetV2 at 64 x 64:
    # 2.4 s instead of 0.03 s). Flushing them to zero changes nothing visible. The flag is
    # per thread, and Streamlit runs each session in its own thread: set it on every call.
    torch.set_flush_denormal(True)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"The input must be a tensor (B, C, H, W); got {shape}.")
    if x.numel() == 0:
        raise ValueError(f"The input is empty: {tuple(x.shape)}.")
    if x.is_complex() or not bool(torch.isfinite(x).all()):
        bad = "complex numbers" if x.is_complex() else (
            f"NaN or infinity ({int((~torch.isfinite(x)).sum()):,} of {x.numel():,} values)")
        raise ValueError(f"The input holds {bad}: a network cannot be run on it.")
    return x


def _check_layers(private: _Private, layers: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)  # one name, not its characters
    try:
        layers = tuple(dict.fromkeys(layers))  # unique, in the order given
    except TypeError as exc:  # unhashable entries (a list from a link)
        raise ValueError(f"Layers must be names (text); got {layers!r:.80}.") from exc
    unknown = [repr(name)[:80] for name in layers if name not in private.names]
    if unknown:
        raise ValueError(
            f"Unknown layer(s): {', '.join(unknown[:3])}. Valid names look like "
            f"{', '.join(private.names[:4])} (see layer_names)."
        )
    if not layers:
        raise ValueError("No layers asked for.")
    return layers


def eval_model(model: nn.Module) -> nn.Module:
    """The private eval-mode copy of `model` (shares its tensors) to run forward passes on."""
    return _private(model).module


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x) without gradients, in eval mode, on the private copy (the model is untouched)."""
    private = _private(model)
    with heavy_work(), private.lock, torch.no_grad():
        return private.module(_check_input(x))


@contextlib.contextmanager
def differentiable(model: nn.Module, layer: str | None) -> Iterator[Callable[[torch.Tensor],
                                                                            torch.Tensor]]:
    """A function x -> the output of `layer` (None: of the whole network) that gradients flow
    through, on the private eval-mode copy (the network past the layer is not run when it was
    traced). Holds a heavy-work slot and the copy's lock while open. Take gradients with
    torch.autograd.grad for the input only: the copy shares the model's parameters."""
    private = _private(model)
    with heavy_work(), private.lock:
        torch.set_flush_denormal(True)
        if layer is None:
            yield private.module
            return
        (layer,) = _check_layers(private, layer)
        if private.traced:
            extractor = _extractor(private, (layer,))
            yield lambda x: extractor(x)[layer]
            return
        module = dict(private.module.named_modules())[layer]

        def run(x: torch.Tensor) -> torch.Tensor:
            stored: list[torch.Tensor] = []
            with _forward_hooks({layer: module}, lambda _name: lambda _m, _i, out:
                                stored.append(out) if not stored else None):
                private.module(x)
            return stored[0]

        yield run


# ---------------------------------------------------------------------------
# Layer names
# ---------------------------------------------------------------------------


def layer_names(model: nn.Module) -> list[str]:
    """Every layer that can be captured, in forward order.

    FX graph node names from get_graph_node_names (eval mode, the input excluded): module paths
    such as "features.0" or "layer1.0.conv1", and functional ops as "layer1.0.add" (a residual
    sum) or "inception3a.cat"; a module called twice gets "_1" ("layer1.0.relu_1"). torchvision
    treats its Conv2dNormActivation and SqueezeExcitation blocks (MobileNet, EfficientNet) as
    single nodes: their output is after the norm and activation. Models that FX cannot trace
    fall back to their leaf module names.
    """
    return list(_private(model).names)


def uses_fx(model: nn.Module) -> bool:
    """True when layers are FX graph nodes, False when captured with module hooks."""
    return _private(model).traced


def group_layers(names: Sequence[str], max_group: int = MAX_GROUP) -> dict[str, list[str]]:
    """Layer names grouped by top-level block ("features", "layer1", ...), for a grouped picker.

    Single-part names ("conv1", "fc", "relu") go under "top level". When a block has more than
    `max_group` names, every block is split one level further ("features.denseblock1",
    "layer3.0"), two-part names ("features.conv0") staying under their block. Groups keep
    forward order.
    """
    def key(name: str, depth: int) -> str:
        parts = name.split(".")
        if len(parts) == 1:
            return "top level"
        return ".".join(parts[:depth]) if len(parts) > depth else parts[0]

    sizes: dict[str, int] = {}
    for name in names:
        sizes[key(name, 1)] = sizes.get(key(name, 1), 0) + 1
    big = any(size > max_group for block, size in sizes.items() if block != "top level")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(key(name, 2 if big else 1), []).append(name)
    return groups


# ---------------------------------------------------------------------------
# Capturing activations
# ---------------------------------------------------------------------------


def capture(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Outputs of `layers` for input x (B, C, H, W), in forward order; default: every layer
    whose output is a feature map (B, C, H, W).

    Each tensor is a fresh copy taken when the layer ran (an in-place ReLU after a conv does not
    change the stored conv output), detached, computed without gradients on a private eval-mode
    copy of the model (the model passed in is never changed: no hooks, no mode switch).
    """
    x = _check_input(x)
    private = _private(model)
    wanted = private.names if layers is None else _check_layers(private, layers)
    with heavy_work(), private.lock, torch.no_grad():
        if private.traced:
            outputs = _extractor(private, wanted)(x)
        else:
            outputs = _capture_with_hooks(private, wanted, x)
    if layers is None:  # keep the feature maps
        outputs = {k: v for k, v in outputs.items() if isinstance(v, torch.Tensor) and v.dim() == 4}
        private.four_d = tuple(outputs)
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()}


def _capture_with_hooks(
    private: _Private, layers: tuple[str, ...], x: torch.Tensor
) -> dict[str, torch.Tensor]:
    modules = dict(private.module.named_modules())
    stored: dict[str, torch.Tensor] = {}

    def factory(name: str):
        def hook(_module, _inputs, output):
            if name not in stored and isinstance(output, torch.Tensor):  # first call wins
                stored[name] = output.detach().clone()  # before any in-place op changes it

        return hook

    with _forward_hooks({name: modules[name] for name in layers}, factory):
        private.module(x)
    return {name: stored[name] for name in layers if name in stored}  # forward order of `layers`


def default_layers(model: nn.Module, input_shape: Sequence[int] = (1, 3, 64, 64)) -> list[str]:
    """The layers capture() returns by default: those whose output is (B, C, H, W)."""
    private = _private(model)
    if private.four_d is None:
        capture(model, torch.zeros(tuple(input_shape)))
    return list(private.four_d)


# ---------------------------------------------------------------------------
# Layer table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    name: str  # node or module name, e.g. "features.0", "layer1.0.add"
    type: str  # module class ("Conv2d") or function ("add", "cat", "flatten")
    output_shape: tuple[int, ...]  # without the batch dimension, e.g. (64, 224, 224)
    parameters: int  # parameters first used by this layer (shared ones counted once)
    macs: int  # multiply-accumulates for one image


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds for one image, from shapes: each output element is a dot product.

    Conv2d: out_elements * (C_in / groups) * K_h * K_w; Linear: out_elements * in_features.
    Biases, norms, activations and pooling count 0.
    """
    out_elements = output[0].numel()  # one image
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        return out_elements * (module.in_channels // module.groups) * k_h * k_w
    if isinstance(module, nn.Linear):
        return out_elements * module.in_features
    return 0


def layer_table(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> list[LayerRow]:
    """One row per layer (the names of layer_names) from one forward pass of a zero image.

    MACs come from forward hooks on the Conv2d and Linear modules and are credited to the layer
    being run, so a block torchvision keeps as one node (Conv2dNormActivation, SqueezeExcitation)
    carries its convolutions' MACs. Rows for modules that own parameters but do not run in eval
    mode come last with shape (). Sum of parameters == sum(p.numel() for p in
    model.parameters()). For VGG16 at 224 x 224 the MACs total 15.47 G, the number torchvision
    lists as "GFLOPS" in its weights' meta["_ops"] (so do all registry models): torchvision's
    GFLOPS are giga multiply-adds; torch.utils.flop_counter counts 2 FLOPs each (30.9 G).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"input_shape must be (1, C, H, W); got {tuple(input_shape)}.")
    private = _private(model)
    module_names = {module: name for name, module in private.module.named_modules()}
    counted = {"current": ""}  # name of the layer now running
    macs: dict[str, int] = {}

    def factory(_name: str):
        def hook(module, _inputs, output):
            key = counted["current"] or module_names[module]
            macs[key] = macs.get(key, 0) + _macs(module, output)

        return hook

    compute = {
        name: module
        for name, module in private.module.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }
    x = _check_input(torch.zeros(shape))
    with heavy_work(), private.lock, torch.no_grad(), _forward_hooks(compute, factory):
        if private.traced:
            extractor = _extractor(private, private.names)
            outputs = _LayerRunner(extractor, counted).run(x)
        else:
            outputs = _capture_with_hooks(private, private.names, x)
    modules = dict(private.module.named_modules())
    seen: set[int] = set()  # ids of parameters already credited

    def own_parameters(module: nn.Module, recurse: bool) -> int:
        fresh = [p for p in module.parameters(recurse=recurse) if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    rows = []
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor):
            continue
        target = private.targets.get(name, name if not private.traced else None)
        module = modules.get(target) if target is not None else None
        rows.append(LayerRow(
            name=name,
            type=type(module).__name__ if module is not None else _op_name(private, name),
            output_shape=tuple(value.shape[1:]),
            parameters=own_parameters(module, recurse=True) if module is not None else 0,
            macs=macs.get(name, 0),
        ))
    # Parameters no layer used (e.g. GoogLeNet's auxiliary heads when built with them).
    for name, module in modules.items():
        rest = own_parameters(module, recurse=False)
        if rest:
            rows.append(LayerRow(name, type(module).__name__ + " (unused)", (), rest, 0))
    return rows


class _LayerRunner(fx.Interpreter):
    """Runs the extractor node by node, telling the MAC hooks which layer is running."""

    def __init__(self, extractor: fx.GraphModule, counted: dict[str, str]) -> None:
        super().__init__(extractor)
        names = {node: name for name, node in _returned_nodes(extractor).items()}
        self._names = names
        self._counted = counted

    def run_node(self, n: fx.Node):
        self._counted["current"] = self._names.get(n, "")
        return super().run_node(n)


def _op_name(private: _Private, name: str) -> str:
    extractor = _extractor(private, private.names)
    node = _returned_nodes(extractor)[name]
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def table_totals(rows: Sequence[LayerRow]) -> LayerRow:
    """A "total" row: all parameters and MACs; the shape is the last layer's."""
    shape = next((r.output_shape for r in reversed(rows) if r.output_shape), ())
    return LayerRow(
        "total", "", shape, sum(r.parameters for r in rows), sum(r.macs for r in rows)
    )


# ---------------------------------------------------------------------------
# Grad-CAM
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GradCam:
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], at the input's size
    class_index: int  # the class explained
    score: float  # its logit (the score before softmax)
    layer_shape: tuple[int, ...]  # the target layer's map (C, h, w)


def grad_cam(
    model: nn.Module, x: torch.Tensor, target_layer: str, class_index: int | None = None
) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) for one image x (1, C, H, W).

    With A the target layer's output (C, h, w) and y the class's logit:
        alpha_c = mean over (i, j) of dy / dA_c[i, j]       (how much channel c matters)
        cam     = ReLU(sum_c alpha_c * A_c)                   (h, w)
    upsampled bilinearly to (H, W) and divided by its maximum (all zeros when nothing speaks for
    the class). class_index None explains the top class. The gradient is taken with
    torch.autograd.grad with respect to A only: the model's parameters, their .grad and
    requires_grad are untouched, and the private copy gets no lasting hooks.
    """
    x = _check_input(x)
    if x.shape[0] != 1:
        raise ValueError(f"Grad-CAM explains one image: batch size 1, got {x.shape[0]}.")
    class_index = None if class_index is None else _class_index(class_index)
    private = _private(model)
    if target_layer not in private.names:
        _check_layers(private, [target_layer])  # raises with a helpful message
    inputs = x.detach().clone().requires_grad_(True)  # a graph even if parameters are frozen
    with heavy_work(), private.lock, torch.enable_grad():
        if private.traced:
            last = private.names[-1]  # the last node computes the class scores
            if last == target_layer:
                raise ValueError(f"{target_layer!r} is the output layer, not a feature map.")
            outputs = _extractor(private, (target_layer, last))(inputs)
            activation, logits = outputs[target_layer], outputs[last]
        else:
            activation, logits = _grad_cam_hooks(private, target_layer, inputs)
        if not isinstance(activation, torch.Tensor) or activation.dim() != 4:
            raise ValueError(f"{target_layer!r} does not output a feature map (1, C, h, w).")
        if logits.dim() != 2 or logits.shape[0] != 1:
            raise ValueError(
                f"The model's output should be class scores (1, K); got {tuple(logits.shape)}."
            )
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(
                "Grad-CAM needs finite class scores, but the network's are NaN or infinite for "
                "this picture (its weights are too large or not finite)."
            )
        index = int(logits.argmax(dim=1)) if class_index is None else class_index
        if not 0 <= index < logits.shape[1]:
            raise ValueError(f"class_index must be in 0..{logits.shape[1] - 1}; got {index}.")
        score = logits[0, index]
        (gradient,) = torch.autograd.grad(score, activation)  # (1, C, h, w)
        if not bool(torch.isfinite(gradient).all() and torch.isfinite(activation).all()):
            raise ValueError(
                f"Grad-CAM at {target_layer!r} meets NaN or infinity (in the layer's output or "
                "its gradient): the network's weights are too large for this picture."
            )
    with torch.no_grad():
        alpha = gradient.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = F.relu((alpha * activation).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        peak = cam.max()
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    return GradCam(
        heatmap=cam.clamp(0, 1).numpy().astype(np.float32),
        class_index=index,
        score=float(score.detach()),
        layer_shape=tuple(activation.shape[1:]),
    )


def _class_index(value: object) -> int:
    """An integer class index (Python or NumPy int; not a bool, a float or text)."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"class_index must be an integer; got {value!r}.")
    try:
        return operator.index(value)
    except TypeError as exc:
        raise ValueError(f"class_index must be an integer; got {value!r:.40}.") from exc


def _grad_cam_hooks(
    private: _Private, target_layer: str, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fallback: a forward hook keeps the target module's output and hands the rest of the
    network a clone, so a following in-place op cannot change the kept tensor."""
    kept: dict[str, torch.Tensor] = {}

    def factory(_name: str):
        def hook(_module, _inputs, output):
            if "activation" in kept or not isinstance(output, torch.Tensor):
                return None
            kept["activation"] = output
            return output.clone()  # replaces the module's output downstream

        return hook

    module = private.module.get_submodule(target_layer)
    with _forward_hooks({target_layer: module}, factory):
        logits = private.module(inputs)
    if "activation" not in kept:
        raise ValueError(f"{target_layer!r} did not run in the forward pass.")
    return kept["activation"], logits


def suggest_gradcam_layer(model: nn.Module, input_shape: Sequence[int] = (1, 3, 64, 64)) -> str:
    """The last feature map with more than one position (a global pool's 1 x 1 output would
    give a flat map): the usual Grad-CAM target."""
    maps = capture(model, torch.zeros(tuple(input_shape)))
    if not maps:
        raise ValueError("The model has no layer with a feature-map output.")
    spatial = [name for name, value in maps.items() if value.shape[-2] * value.shape[-1] > 1]
    return (spatial or list(maps))[-1]
