"""Safe arithmetic expressions: the strings config files give for lr_lambda and CyclicLR's scale_fn."""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

from ..errors import LrtoolError
from ..registry import did_you_mean

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
# name -> (function, min args, max args or None)
_FUNCS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "min": (min, 2, None), "max": (max, 2, None), "abs": (abs, 1, 1), "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2), "sqrt": (math.sqrt, 1, 1), "cos": (math.cos, 1, 1),
    "sin": (math.sin, 1, 1), "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1),
}
_CONSTS = {"pi": math.pi, "e": math.e}
_MAX_EXPR_CHARS = 500


def _real(x: Any) -> float:
    """Every intermediate is a float: no huge ints (10**10**10 would hang) and no complex numbers."""
    if isinstance(x, complex):
        raise ValueError("result is not a real number")
    return float(x)


class Expr:
    """An arithmetic expression string, parsed once and checked against a whitelist of node types.

    Allowed: numbers, + - * / // % **, unary -/+, comparisons, and/or/not, ``a if cond else b``,
    the given variable names, constants pi and e, functions min max abs exp log sqrt cos sin floor
    ceil. Everything else (attributes, subscripts, other calls, strings, lambdas) is refused.
    """

    def __init__(self, text: Any, variables: tuple[str, ...], key: str):
        self.key = key
        self.variables = variables
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise LrtoolError(f"{key}: expected an arithmetic expression string, got {text!r}")
        self.text = str(text)
        if len(self.text) > _MAX_EXPR_CHARS:
            raise LrtoolError(f"{key}: expression longer than {_MAX_EXPR_CHARS} characters")
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            msg = getattr(exc, "msg", None) or type(exc).__name__
            raise LrtoolError(f"{key}: invalid expression {self.text!r}: {msg}") from None
        self._fn = self._compile(tree.body)

    def _refuse(self, node: ast.AST, what: str) -> LrtoolError:
        """The one-line error for a node outside the whitelist."""
        allowed = (f"numbers, + - * / // % **, comparisons, 'a if c else b', names "
                   f"{'/'.join(self.variables)}, pi, e, functions {' '.join(_FUNCS)}")
        return LrtoolError(f"{self.key}: {ast.unparse(node)!r} is not allowed ({what}) in "
                           f"{self.text!r}; allowed: {allowed}")

    def _compile(self, node: ast.AST) -> Callable[[dict[str, float]], float]:
        """Turn an AST node into a closure over the variable values."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self._refuse(node, "only numbers are allowed as constants")
            value = float(node.value)
            return lambda env: value
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                name = node.id
                return lambda env: env[name]
            if node.id in _CONSTS:
                value = _CONSTS[node.id]
                return lambda env: value
            hint = did_you_mean(node.id, (*self.variables, *_CONSTS))
            raise self._refuse(node, f"unknown name{hint}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op, left, right = _BINOPS[type(node.op)], self._compile(node.left), self._compile(node.right)
            return lambda env: _real(op(left(env), right(env)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            inner = self._compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -inner(env)
            if isinstance(node.op, ast.Not):
                return lambda env: float(not inner(env))
            return inner
        if isinstance(node, ast.Compare) and all(type(o) in _CMPOPS for o in node.ops):
            ops = [_CMPOPS[type(o)] for o in node.ops]
            parts = [self._compile(node.left)] + [self._compile(c) for c in node.comparators]

            def compare(env: dict[str, float]) -> float:
                values = [p(env) for p in parts]
                return float(all(op(a, b) for op, a, b in zip(ops, values, values[1:])))
            return compare
        if isinstance(node, ast.BoolOp):
            parts = [self._compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: float(all(p(env) for p in parts))
            return lambda env: float(any(p(env) for p in parts))
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self._compile(n) for n in (node.test, node.body, node.orelse))
            return lambda env: body(env) if test(env) else orelse(env)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
                raise self._refuse(node, f"calling {ast.unparse(node.func)!r}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self._refuse(node, "only plain positional arguments")
            fn, lo, hi = _FUNCS[node.func.id]
            if len(node.args) < lo or (hi is not None and len(node.args) > hi):
                count = f"{lo}" + ("" if hi == lo else f" to {hi or 'any'}")
                raise self._refuse(node, f"{node.func.id} takes {count} arguments")
            args = [self._compile(a) for a in node.args]
            return lambda env: _real(fn(*(a(env) for a in args)))
        if isinstance(node, ast.Attribute):
            raise self._refuse(node, "attribute access")
        raise self._refuse(node, f"{type(node).__name__.lower()} expressions")

    def __call__(self, at: str, **values: float) -> float:
        """Evaluate with the variable values; `at` names the point for error messages."""
        try:
            result = float(self._fn({k: float(v) for k, v in values.items()}))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise LrtoolError(f"{self.key}: {self.text!r} fails at {at}: {exc}") from None
        return result
