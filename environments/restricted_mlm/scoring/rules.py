"""The restricted architecture's rules, enforced twice: statically on the submission's source
(ast, without running it) and at run time around the model's forward pass.

Allowed in the forward pass (RE-Bench's list): nn.Linear, nn.Embedding, matmul/einsum/sum,
+ (and -), *, relu, and indexing/gather/reshape/as_strided/cat (views, copies, dtype casts and
new constant tensors too). Forbidden (each name below, by category): division, exp/log/sqrt/
pow, mean/max/min/where and other reductions that are not sums, softmax/gelu/layer_norm and
other nonlinearities and normalisations, convolutions, comparisons, and branching on tensor
values (bool/item/...).

Run time: ``Guard`` replaces every forbidden function of torch, torch.nn.functional,
torch.special/fft/linalg and every forbidden Tensor method and operator (``/``, ``**``, ``<``
... ``__bool__``) with one that raises ``RuleViolation``, and watches every ATen operator that
actually runs through a TorchDispatchMode, so an alias taken before the guard began
(``my_exp = torch.exp``) or a call through torch.ops is caught too. The first violation is
kept even if the model catches the exception. Messages name the operation and the file:line in
the submission that called it.

This module is copied next to the sandboxed child that runs the expert's code: it imports
nothing of the family's and must stay self-contained.
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NONLINEAR = "softmax/gelu/layer_norm and other nonlinearities or normalisations"


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Category -> names (functions of torch / torch.nn.functional, Tensor methods).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "division": _names(
        "div div_ divide divide_ true_divide true_divide_ floor_divide floor_divide_ reciprocal "
        "reciprocal_ remainder remainder_ fmod fmod_"
    ),
    "exp/log/sqrt/pow": _names(
        "exp exp_ exp2 exp2_ expm1 expm1_ log log_ log2 log2_ log10 log10_ log1p log1p_ sqrt "
        "sqrt_ rsqrt rsqrt_ pow pow_ float_power float_power_ square square_ logsumexp logaddexp "
        "logaddexp2 xlogy logit logcumsumexp"
    ),
    "mean/max/min/where and other non-sum reductions": _names(
        "mean nanmean max min amax amin aminmax maximum minimum fmax fmin clamp clamp_ clamp_min "
        "clamp_max clip clip_ where argmax argmin median nanmedian std var std_mean var_mean norm "
        "topk sort argsort msort cummax cummin kthvalue mode quantile nanquantile masked_fill "
        "masked_fill_ masked_scatter heaviside prod cumprod dist cdist"
    ),
    NONLINEAR: _names(
        "softmax log_softmax softmin gumbel_softmax gelu silu mish sigmoid sigmoid_ tanh tanh_ "
        "hardtanh hardtanh_ relu6 elu elu_ selu celu leaky_relu leaky_relu_ prelu rrelu glu "
        "logsigmoid softplus softshrink hardshrink tanhshrink softsign hardsigmoid hardswish "
        "threshold threshold_ layer_norm group_norm batch_norm instance_norm local_response_norm "
        "rms_norm normalize erf erf_ erfc erfinv sin cos tan asin acos atan atan2 sinh cosh asinh "
        "acosh atanh abs abs_ absolute sign sgn signbit floor ceil round trunc frac lgamma "
        "digamma polygamma i0 sinc scaled_dot_product_attention multi_head_attention_forward "
        "cosine_similarity pairwise_distance cross_entropy nll_loss kl_div mse_loss l1_loss "
        "binary_cross_entropy binary_cross_entropy_with_logits nan_to_num"
    ),
    "convolution": _names(
        "conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution "
        "conv_tbc avg_pool1d avg_pool2d max_pool1d max_pool2d adaptive_avg_pool1d "
        "adaptive_max_pool1d lp_pool1d"
    ),
    "comparison": _names(
        "lt lt_ le le_ gt gt_ ge ge_ eq eq_ ne ne_ less less_equal greater greater_equal "
        "not_equal equal isclose allclose isin isnan isinf isfinite isposinf isneginf logical_and "
        "logical_or logical_not logical_xor bucketize searchsorted"
    ),
    "branching on tensor values": _names(
        "item tolist nonzero argwhere any all unique unique_consecutive masked_select "
        "count_nonzero bincount histc numpy"
    ),
}

# Tensor operators (dunders) and what they are, for the messages.
FORBIDDEN_DUNDERS: dict[str, tuple[str, str]] = {
    "__truediv__": ("division", "the / operator"),
    "__rtruediv__": ("division", "the / operator"),
    "__itruediv__": ("division", "the /= operator"),
    "__floordiv__": ("division", "the // operator"),
    "__rfloordiv__": ("division", "the // operator"),
    "__ifloordiv__": ("division", "the //= operator"),
    "__mod__": ("division", "the % operator"),
    "__rmod__": ("division", "the % operator"),
    "__pow__": ("exp/log/sqrt/pow", "the ** operator"),
    "__rpow__": ("exp/log/sqrt/pow", "the ** operator"),
    "__ipow__": ("exp/log/sqrt/pow", "the **= operator"),
    "__lt__": ("comparison", "the < operator"),
    "__le__": ("comparison", "the <= operator"),
    "__gt__": ("comparison", "the > operator"),
    "__ge__": ("comparison", "the >= operator"),
    "__eq__": ("comparison", "the == operator"),
    "__ne__": ("comparison", "the != operator"),
    "__abs__": (NONLINEAR, "abs()"),
    "__bool__": ("branching on tensor values", "a tensor's truth value (if/while/and/or)"),
    "__int__": ("branching on tensor values", "int(tensor)"),
    "__float__": ("branching on tensor values", "float(tensor)"),
    "__index__": ("branching on tensor values", "a tensor used as a Python int"),
    "__and__": ("comparison", "the & operator"),
    "__or__": ("comparison", "the | operator"),
    "__xor__": ("comparison", "the ^ operator"),
    "__invert__": ("comparison", "the ~ operator"),
}

# torch namespaces whose every public callable is forbidden, but for the names kept.
FORBIDDEN_NAMESPACES: dict[str, tuple[str, set[str]]] = {
    "special": ("exp/log/sqrt/pow", set()),
    "fft": ("convolution", set()),
    "linalg": ("exp/log/sqrt/pow", {"matmul", "vecdot", "multi_dot"}),
}

# Modules whose forward pass is forbidden whole (they normalise, attend or convolve).
FORBIDDEN_MODULES = (
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "MultiheadAttention",
    "Transformer",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "Conv1d",
    "Conv2d",
    "Softmax",
    "GELU",
    "SiLU",
    "Sigmoid",
    "Tanh",
)

# ATen operators (overload packets) the dispatch watch refuses, by category.
FORBIDDEN_ATEN: dict[str, str] = {}
for _category, _names in FORBIDDEN.items():
    for _name in _names:
        FORBIDDEN_ATEN[_name.rstrip("_")] = _category
for _name, _category in {
    "_softmax": NONLINEAR,
    "_log_softmax": NONLINEAR,
    "native_layer_norm": NONLINEAR,
    "native_group_norm": NONLINEAR,
    "native_batch_norm": NONLINEAR,
    "_native_batch_norm_legit": NONLINEAR,
    "_native_batch_norm_legit_no_training": NONLINEAR,
    "_fused_rms_norm": NONLINEAR,
    "_scaled_dot_product_flash_attention": NONLINEAR,
    "_scaled_dot_product_efficient_attention": NONLINEAR,
    "_scaled_dot_product_cudnn_attention": NONLINEAR,
    "_convolution": "convolution",
    "cudnn_convolution": "convolution",
    "linalg_vector_norm": "mean/max/min/where and other non-sum reductions",
    "is_nonzero": "branching on tensor values",
    "_local_scalar_dense": "branching on tensor values",
    "_unique2": "branching on tensor values",
    "bitwise_and": "comparison",
    "bitwise_or": "comparison",
    "bitwise_xor": "comparison",
    "bitwise_not": "comparison",
}.items():
    FORBIDDEN_ATEN[_name] = _category

# Names whose use in forward code would step around the run-time guard, or run kernels the
# guard cannot see.
EVASIONS = {
    "_C": "torch._C (the C bindings under the guard)",
    "_VF": "torch._VF (the C bindings under the guard)",
    "ops": "torch.ops (operators called around the guard)",
    "_ops": "torch._ops",
    "_python_dispatch": "torch.utils._python_dispatch (the dispatch modes)",
    "__torch_function__": "__torch_function__ overrides",
    "__torch_dispatch__": "__torch_dispatch__ overrides",
    "ctypes": "ctypes",
    "triton": "Triton kernels",
    "compile": "torch.compile",
    "jit": "torch.jit",
    "cpp_extension": "torch.utils.cpp_extension",
    "load_inline": "compiled extensions",
}
EVASION_NAMES = {  # builtins that run code the static check cannot read
    "eval": "eval",
    "exec": "exec",
    "__import__": "__import__",
    "__builtins__": "__builtins__",
}
LIBRARIES = ("torch", "math", "numpy", "scipy", "cmath")
EVASION_IMPORTS = (
    "ctypes",
    "triton",
    "torch.utils.cpp_extension",
    "torch.utils._python_dispatch",
    "torch._C",
    "torch._VF",
    "torch._ops",
    "importlib",
    "cffi",
)

_CATEGORY_OF = {name: category for category, names in FORBIDDEN.items() for name in names}
_STATIC_BINOPS = {
    ast.Div: ("division", "the / operator"),
    ast.FloorDiv: ("division", "the // operator"),
    ast.Mod: ("division", "the % operator"),
    ast.Pow: ("exp/log/sqrt/pow", "the ** operator"),
}


_MISSING = object()


class RuleViolation(Exception):
    """A forbidden operation in the forward pass; the message names it and where."""


@dataclass(frozen=True)
class Violation:
    category: str
    operation: str
    where: str  # "file:line"

    def message(self, how: str) -> str:
        return f"forbidden operation {self.operation} ({self.category}) at {self.where} [{how}]"


# ---------------------------------------------------------------- static check ----------------


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _reachable(tree: ast.Module) -> list[ast.AST]:
    """Functions the forward pass may run: every ``forward`` and dunder method other than
    ``__init__``, and, by name, every function of the file they call (transitively)."""
    defs: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs.setdefault(node.name, []).append(node)
    start = [
        d
        for name, found in defs.items()
        if name == "forward"
        or (name.startswith("__") and name.endswith("__") and name != "__init__")
        for d in found
    ]
    seen: list[ast.AST] = []
    todo = list(start)
    while todo:
        fn = todo.pop()
        if any(fn is s for s in seen):
            continue
        seen.append(fn)
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                name = _called_name(node.func)
                todo.extend(defs.get(name or "", []))
    return seen


def _forbidden_name(name: str) -> tuple[str, str] | None:
    if name in _CATEGORY_OF:
        return _CATEGORY_OF[name], name
    if name in FORBIDDEN_MODULES:
        return NONLINEAR, f"nn.{name}"
    if name in EVASIONS:
        return "stepping around the checker", EVASIONS[name]
    return None


def _library_aliases(tree: ast.Module) -> set[str]:
    """Names the file binds to torch, math or numpy (and their submodules or members)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_self(node: ast.AST) -> bool:
    return _root(node) == "self"


def static_check(source: str, filename: str) -> list[Violation]:
    """Violations found in the source without running it: the / // % ** operators and
    forbidden functions of torch, torch.nn.functional, math or numpy (or forbidden Tensor
    methods called on anything but ``self``) in code the forward pass can reach; forbidden
    functions imported by name or aliased at module or class level; and what would step around
    the run-time guard (torch._C, torch.ops, dispatch modes, ctypes, Triton, eval/exec)."""
    label = os.path.basename(filename)
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [Violation("syntax", f"a syntax error ({exc.msg})", f"{label}:{exc.lineno}")]
    libraries = _library_aliases(tree)
    found: list[Violation] = []

    def add(category: str, operation: str, node: ast.AST) -> None:
        found.append(Violation(category, operation, f"{label}:{getattr(node, 'lineno', 0)}"))

    def library_attribute(node: ast.AST) -> tuple[str, str] | None:
        if isinstance(node, ast.Attribute) and _root(node) in libraries:
            return _forbidden_name(node.attr)
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(EVASION_IMPORTS):
                    add("stepping around the checker", f"import {alias.name}", node)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith(EVASION_IMPORTS):
                add("stepping around the checker", f"from {module} import", node)
            for alias in node.names:
                hit = _forbidden_name(alias.name)
                if hit and module.split(".")[0] in LIBRARIES:
                    add(hit[0], f"{module}.{alias.name} (imported by name)", node)
        elif isinstance(node, ast.FunctionDef) and node.name in EVASIONS:
            add("stepping around the checker", EVASIONS[node.name], node)
    top = [*tree.body, *(n for c in tree.body if isinstance(c, ast.ClassDef) for n in c.body)]
    for node in top:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for sub in ast.walk(node.value):  # aliases such as act = F.gelu
                hit = library_attribute(sub)
                if hit:
                    add(hit[0], f"{hit[1]} (aliased)", sub)
    for fn in _reachable(tree):
        for node in ast.walk(fn):
            if isinstance(node, ast.BinOp) and type(node.op) in _STATIC_BINOPS:
                add(*_STATIC_BINOPS[type(node.op)], node)
            elif isinstance(node, ast.AugAssign) and type(node.op) in _STATIC_BINOPS:
                category, operation = _STATIC_BINOPS[type(node.op)]
                add(category, operation.replace(" operator", "= operator"), node)
            elif isinstance(node, ast.Attribute):
                hit = library_attribute(node)
                if hit:
                    add(hit[0], f"{_root(node)}.{node.attr}", node)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                hit = _forbidden_name(node.func.attr)
                if hit and not _is_self(node.func.value) and _root(node.func) not in libraries:
                    add(hit[0], f"Tensor.{node.func.attr}", node)
            elif isinstance(node, ast.Name) and node.id in EVASION_NAMES:
                add("stepping around the checker", EVASION_NAMES[node.id], node)
    unique: dict[tuple[str, str], Violation] = {}
    for v in sorted(found, key=lambda v: int(v.where.rsplit(":", 1)[1])):
        unique.setdefault((v.operation, v.where), v)
    return list(unique.values())


# ---------------------------------------------------------------- run-time guard ----------------


def _where(roots: tuple[str, ...]) -> str:
    """file:line of the innermost frame in the submission (else the innermost outside torch
    and this module), with the function's name."""
    frame = sys._getframe(2)
    fallback = None
    here = os.path.abspath(__file__)
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if any(name.startswith(root) for root in roots):
            return f"{os.path.basename(name)}:{frame.f_lineno} (in {frame.f_code.co_name})"
        if fallback is None and name != here and f"{os.sep}torch{os.sep}" not in name:
            fallback = f"{name}:{frame.f_lineno} (in {frame.f_code.co_name})"
        frame = frame.f_back
    return fallback or "an unknown place"


class Guard:
    """While active (``with Guard(roots):``), forbidden operations raise RuleViolation, and the
    first one is kept in ``self.violation``. ``roots`` are the folders of the submission, used to
    name the line that called the operation."""

    def __init__(self, roots: list[str] | tuple[str, ...]):
        import torch

        self.torch = torch
        self.roots = tuple(os.path.abspath(r) + os.sep for r in roots)
        self.violation: Violation | None = None
        self._saved: list[tuple[Any, str, Any]] = []
        self._mode = None
        self._depth = 0  # > 0 inside our own wrappers: the dispatch watch stays quiet

    def _record(self, category: str, operation: str) -> RuleViolation:
        violation = Violation(category, operation, _where(self.roots))
        if self.violation is None:
            self.violation = violation
        return RuleViolation(violation.message("run-time check"))

    def _wrap(self, owner: Any, name: str, category: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None or getattr(original, "_refused_by_guard", False):
            return
        guard = self

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise guard._record(category, label)

        refused.__name__ = name
        refused._refused_by_guard = True  # type: ignore[attr-defined]
        own = owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else original
        self._saved.append((owner, name, own))
        setattr(owner, name, refused)

    def __enter__(self) -> Guard:
        torch = self.torch
        functional = torch.nn.functional
        for name, category in _CATEGORY_OF.items():
            if hasattr(torch, name):
                self._wrap(torch, name, category, f"torch.{name}")
            if hasattr(functional, name):
                self._wrap(functional, name, category, f"torch.nn.functional.{name}")
            if hasattr(torch.Tensor, name):
                self._wrap(torch.Tensor, name, category, f"Tensor.{name}")
        for namespace, (category, kept) in FORBIDDEN_NAMESPACES.items():
            module = getattr(torch, namespace)
            for name in dir(module):
                if name.startswith("_") or name in kept:
                    continue
                value = getattr(module, name)
                if callable(value) and not isinstance(value, type):
                    self._wrap(module, name, category, f"torch.{namespace}.{name}")
        for name, (category, label) in FORBIDDEN_DUNDERS.items():
            if hasattr(torch.Tensor, name):
                self._wrap(torch.Tensor, name, category, f"{label} on a tensor (Tensor.{name})")
        for name in FORBIDDEN_MODULES:
            cls = getattr(torch.nn, name, None)
            if cls is not None:
                self._wrap(
                    cls,
                    "forward",
                    NONLINEAR,
                    f"torch.nn.{name}",
                )
        self._mode = _dispatch_watch(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._mode is not None:
            self._mode.__exit__(*exc)
            self._mode = None
        for owner, name, original in reversed(self._saved):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()


def _dispatch_watch(guard: Guard) -> Any:
    from torch.utils._python_dispatch import TorchDispatchMode

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            base = func.overloadpacket.__name__.rstrip("_")
            category = FORBIDDEN_ATEN.get(base)
            if category is not None:
                raise guard._record(category, f"aten.{func.overloadpacket.__name__} (ATen)")
            return func(*args, **(kwargs or {}))

    return Watch()


def check_file(path: Path) -> list[Violation]:
    return static_check(path.read_text(errors="replace"), str(path))


if __name__ == "__main__":  # python rules.py model.py: the static check by hand
    problems = [v for arg in sys.argv[1:] for v in check_file(Path(arg))]
    for v in problems:
        builtins.print(v.message("static check"))
    sys.exit(1 if problems else 0)
