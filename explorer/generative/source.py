"""The app's own source copied into a script: named top-level definitions of explorer modules and,
followed across modules, everything they use, with the imports they need (so "Show the code"
stays in step with the models without a second copy)."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass

Wanted = tuple[str, str]  # (module, top-level name), e.g. ("explorer.generative.vae", "VAE")


@dataclass(frozen=True)
class _Module:
    name: str
    lines: tuple[str, ...]
    defs: dict[str, ast.stmt]  # top-level name -> the statement that binds it
    links: dict[str, Wanted]  # name imported from another explorer module -> where it lives
    imports: dict[str, str]  # name bound by an import of a library -> that import's line


@functools.cache
def _parsed(name: str) -> _Module:
    source = inspect.getsource(importlib.import_module(name))
    defs: dict[str, ast.stmt] = {}
    links: dict[str, Wanted] = {}
    imports: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:  # `A, B = ...` binds both
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        defs[sub.id] = node
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module.split(".")[0] == "explorer":
                    links[bound] = (node.module, alias.name)
                else:
                    imports[bound] = f"from {node.module} import {alias.name}" + (
                        f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound != "explorer":
                    imports[bound] = f"import {alias.name}" + (
                        f" as {alias.asname}" if alias.asname else "")
    return _Module(name, tuple(source.splitlines()), defs, links, imports)


class _Reads(ast.NodeVisitor):
    """The names a statement reads when it runs, and apart those only its annotations name (the
    script has `from __future__ import annotations`: they are never evaluated)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.annotations: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def _annotation(self, node: ast.expr | None) -> None:
        if node is not None:
            self.annotations |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    def visit_arg(self, node: ast.arg) -> None:
        self._annotation(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for part in [*node.decorator_list, node.args, *node.body]:
            self.visit(part)
        self._annotation(node.returns)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)


def _reads(node: ast.stmt) -> tuple[set[str], set[str]]:
    """(names read when it runs, names only in annotations)."""
    reader = _Reads()
    reader.visit(node)
    return reader.names, reader.annotations - reader.names


@dataclass(frozen=True)
class Copied:
    """What a script needs: import lines (outside explorer) and the definitions' source."""

    imports: tuple[str, ...]
    code: str
    names: frozenset[str]  # every top-level name the code binds


def _block(module: _Module, node: ast.stmt) -> list[str]:
    """The statement's lines with its decorators and the comment lines just above it."""
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)]) - 1
    while first > 0 and module.lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return list(module.lines[first:node.end_lineno])


def _label(name: str) -> str:
    """A module's file for a comment, without the package's name (the scripts never say it)."""
    return "/".join(name.split(".")[1:]) + ".py"


def copied(wanted: Iterable[Wanted]) -> Copied:
    """The definitions `wanted` and all they use, module by module (in the order `wanted` names
    them, a module after those it uses), each in its file's order; ValueError for a name no
    module defines or for two modules' definitions of one name."""
    chosen: dict[str, set[ast.stmt]] = {}
    uses: dict[str, set[str]] = {}  # module -> explorer modules it takes names from
    owner: dict[str, str] = {}  # a copied name -> its module
    imports: set[str] = set()
    wanted = list(wanted)
    stack, seen = wanted[::-1], set()
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        name, binding = item[0], item[1]
        module = _parsed(name)
        if binding in module.links:
            uses.setdefault(name, set()).add(module.links[binding][0])
            stack.append(module.links[binding])
        elif binding in module.imports:
            imports.add(module.imports[binding])
        elif binding in module.defs:
            if owner.setdefault(binding, name) != name:
                raise ValueError(f"{binding} is defined in both {owner[binding]} and {name}")
            chosen.setdefault(name, set()).add(module.defs[binding])
            reads, annotations = _reads(module.defs[binding])
            stack += [(name, read) for read in reads
                      if read in module.defs or read in module.links or read in module.imports]
            # a library's name in an annotation is imported (linters read annotations); the
            # app's own types there are not copied for it
            imports |= {module.imports[n] for n in annotations if n in module.imports}
        else:
            raise ValueError(f"{name} defines no {binding}")
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:  # depth first: used modules first
        if name in order or name in path:
            return
        for used in sorted(uses.get(name, ())):
            visit(used, (*path, name))
        order.append(name)

    for name in dict.fromkeys([module for module, _ in wanted] + sorted(chosen)):
        visit(name, ())  # the modules in the order asked for, each after those it uses
    out: list[str] = []
    for name in (n for n in order if n in chosen):
        module = _parsed(name)
        out += ["", "", f"# ---- copied from CNN Explorer's {_label(name)}"]
        after_definition = True
        for node in sorted(chosen[name], key=lambda n: n.lineno):
            is_definition = isinstance(node, ast.FunctionDef | ast.ClassDef)
            out += ["", ""] if is_definition or after_definition else [""]
            out += _block(module, node)
            after_definition = is_definition
    return Copied(tuple(sorted(imports)), "\n".join(out).strip("\n"), frozenset(owner))


def import_lines(lines: Iterable[str]) -> str:
    """Import lines in isort's order: __future__, the standard library, then the others, with
    plain `import x` before `from x import y` in each group."""
    def group(line: str) -> int:
        root = line.split()[1].split(".")[0]
        return 0 if root == "__future__" else 1 if root in sys.stdlib_module_names else 2

    def key(line: str) -> tuple[int, int, str]:
        return group(line), line.startswith("from"), line.split()[1]

    out: list[str] = []
    previous = None
    for line in sorted(set(lines), key=key):
        if previous is not None and group(line) != previous:
            out.append("")
        out.append(line)
        previous = group(line)
    return "\n".join(out)
