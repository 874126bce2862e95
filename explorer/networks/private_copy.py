"""A private eval-mode copy of a shared model: traced once, cut into extractors, hooked safely."""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torchvision.models import feature_extraction
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from explorer.jobs import memory

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
class PrivateCopy:
    module: nn.Module  # the private copy, eval mode
    fingerprint: tuple[int, ...]
    traced: bool  # True: FX graph nodes (create_feature_extractor); False: module hooks
    names: tuple[str, ...]  # layers in forward order (node names, or leaf module names)
    targets: dict[str, str]  # FX: node name -> module path for nodes that call a module
    graph: fx.Graph | None = None  # FX: the eval graph returning every layer, never run
    lock: threading.RLock = field(default_factory=threading.RLock)
    extractors: dict[tuple[str, ...], fx.GraphModule] = field(default_factory=dict)
    four_d: tuple[str, ...] | None = None  # names whose output is (B, C, H, W), once known


_PRIVATE: weakref.WeakKeyDictionary[nn.Module, PrivateCopy] = weakref.WeakKeyDictionary()
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


def copy_of(model: nn.Module) -> PrivateCopy:
    """The cached private copy of `model`, made again when its modules or tensors were replaced."""
    fingerprint = _fingerprint(model)
    with _PRIVATE_LOCK:
        private = _PRIVATE.get(model)
        if private is None or private.fingerprint != fingerprint:
            private = _make_private(model, fingerprint)
            _PRIVATE[model] = private
        return private


def _make_private(model: nn.Module, fingerprint: tuple[int, ...]) -> PrivateCopy:
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
        return PrivateCopy(module, fingerprint, traced=False, names=tuple(leaves), targets={})
    nodes = {n: node for n, node in returned_nodes(extractor).items() if node.op != "placeholder"}
    _set_returned_nodes(extractor.graph, nodes)  # every node but the input "x"
    targets = {n: node.target for n, node in nodes.items() if node.op == "call_module"}
    return PrivateCopy(
        module, fingerprint, traced=True, names=tuple(nodes), targets=targets, graph=extractor.graph
    )


def returned_nodes(source: fx.GraphModule | fx.Graph) -> dict[str, fx.Node]:
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
    for node in returned_nodes(graph).values():
        users = [user for user in node.users if user.op != "output"]
        if not users:
            continue
        with graph.inserting_after(node):
            clone = graph.call_method("clone", (node,))
        for user in users:
            user.replace_input_with(node, clone)


def extractor_for(private: PrivateCopy, layers: tuple[str, ...]) -> fx.GraphModule:
    """A module returning {name: output} for `layers`, cached per layer list.

    Cut from the model's traced graph (what create_feature_extractor does, without tracing the
    model again: 5-50 ms instead of 20-800 ms): return `layers`, drop the nodes they don't need,
    isolate the returned tensors from in-place ops.
    """
    with private.lock:
        if layers not in private.extractors:
            graph = copy.deepcopy(private.graph)  # (a Graph deep-copies its nodes, not modules)
            nodes = returned_nodes(graph)
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
def forward_hooks(modules: dict[str, nn.Module], hook_factory) -> Iterator[None]:
    """Forward hooks hook_factory(name) on `modules`, always removed on exit."""
    handles = [module.register_forward_hook(hook_factory(name)) for name, module in modules.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def check_input(x: torch.Tensor) -> torch.Tensor:
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


def check_layers(private: PrivateCopy, layers: Sequence[str] | str) -> tuple[str, ...]:
    """`layers` (one name or several) as a tuple of known layer names, or a helpful ValueError."""
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


def capture_with_hooks(
    private: PrivateCopy, layers: tuple[str, ...], x: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The fallback for models FX cannot trace: {name: a copy of the module's first output}."""
    modules = dict(private.module.named_modules())
    stored: dict[str, torch.Tensor] = {}

    def factory(name: str):
        def hook(_module, _inputs, output):
            if name not in stored and isinstance(output, torch.Tensor):  # first call wins
                stored[name] = output.detach().clone()  # before any in-place op changes it

        return hook

    with forward_hooks({name: modules[name] for name in layers}, factory):
        private.module(x)
    return {name: stored[name] for name in layers if name in stored}  # forward order of `layers`
