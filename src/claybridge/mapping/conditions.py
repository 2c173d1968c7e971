"""``when`` conditions, evaluated safely with simpleeval.

Why simpleeval: it evaluates one Python-syntax expression over the names we hand it,
with no imports, no dunder access, bounded powers and string sizes, and it is small and
maintained. Python syntax matches what users write (``body.icp_score >= 80 and
body.email``). Google CEL (cel-python) was the alternative; its ``&&`` syntax and
heavier runtime bought nothing here.

Rules (documented in README):

* Names: ``body`` and ``headers`` (lower-case header names); ``a.b`` reads key ``b``.
  A missing key reads as ``None`` (so ``body.email`` alone tests presence).
* Values are the coerced ones: a top-level body field the action declares with a type
  is seen with that type; any other string that is a plain number (``"87"``,
  ``"-1.5"``) or a percentage (``"85%"``, read as 85 like the ``percent`` type) is
  seen as a number, and ``""`` as ``None``, because Clay sends every cell as a string.
* A condition that cannot be evaluated says why in the words of the row
  (``icp_score is empty``, ``icp_score 'high' is not a number``): see :func:`explain`.
* Functions: ``len``, ``lower``, ``upper``, ``int``, ``float``, ``str``.
* A condition is checked when the configuration is saved: it must parse, and may use
  only those names and functions. At request time an evaluation error (comparing text
  with a number, say) makes the condition false, and the response says why.

Speed: simpleeval walks the expression tree on every evaluation, dispatching on each
node and checking each intermediate value; for ``body.icp_score >= 30 and body.email``
that was about 490 Python bytecodes per row, more than the action it guards. Most
conditions use only names, ``a.b`` reads of a row, constants, comparisons and
``and``/``or``/``not``; :func:`compile_closures` turns those into nested closures once,
which do exactly what simpleeval does for these nodes (its own operator functions, the
same short-circuit values). Anything else (calls, arithmetic, subscripts, a read from
something that is not a row) is left to simpleeval, which then evaluates the whole
expression; a differential test checks that both give the same answers.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from simpleeval import DEFAULT_OPERATORS, DISALLOW_METHODS, DISALLOW_PREFIXES, SimpleEval

NAMES = ("body", "headers")
FUNCTIONS: dict[str, Any] = {
    "len": len,
    "lower": lambda s: str(s).lower() if s is not None else None,
    "upper": lambda s: str(s).upper() if s is not None else None,
    "int": int,
    "float": float,
    "str": str,
}
_CONSTANTS = {"True", "False", "None", "true", "false", "null"}
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_PERCENT = re.compile(r"^(-?\d+(\.\d+)?)\s*%$")
MAX_LENGTH = 1000


class View:
    """A body as conditions see it: a missing key reads as ``None``, and values are
    converted when read (numeric strings to numbers, blanks to ``None``, nested objects to
    views), so an event pays only for the keys its conditions use.

    Why not a ``dict`` subclass: ``body.items`` or ``body.update`` would then read the
    dict's methods instead of the row's ``items`` and ``update`` keys (simpleeval tries
    attributes first), and simpleeval re-checks every value of any dict an expression
    touches (a full pass over the row per name). Keys are read as attributes here.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)  # a copy: typed values set for a condition stay here

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocols (copy, pickle) are not keys
            raise AttributeError(name)
        return _convert(self._data.get(name))

    def __getitem__(self, key: Any) -> Any:
        return _convert(self._data.get(key))

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __repr__(self) -> str:
        return f"View({self._data!r})"


def _convert(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _PLAIN_NUMBER.match(text):
            return float(text) if "." in text else int(text)
        percent = _PERCENT.match(text) if text[-1] == "%" else None
        if percent:  # Clay's percent cells: "85%" is 85, as the percent type reads it
            number = percent.group(1)
            return float(number) if "." in number else int(number)
        return value
    if isinstance(value, dict):  # JSON objects (not Mapping: an ABC check costs more)
        return View(value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value


def view(value: Any) -> Any:
    """``value`` prepared for conditions (see :class:`View`)."""
    if type(value) is dict or isinstance(value, Mapping):  # the ABC check only if needed
        return View(value)
    return _convert(value)


_LOCAL = threading.local()


def _evaluator() -> Any:
    """This thread's evaluator: building one per call cost more than evaluating."""
    found = getattr(_LOCAL, "evaluator", None)
    if found is None:
        found = _LOCAL.evaluator = SimpleEval(functions=FUNCTIONS)
    return found


Closure = Callable[[dict[str, Any]], Any]


class NeedsSimpleEval(Exception):
    """Raised by a compiled closure when this evaluation is not in its subset."""


def compile_closures(node: ast.AST) -> Closure | None:
    """``node`` (a parsed condition) as a closure over the names, or ``None`` when it
    uses anything outside the subset described in the module docstring."""
    if isinstance(node, ast.Expr):
        return compile_closures(node.value)
    if isinstance(node, ast.Constant):
        constant = node.value
        if type(constant) not in (bool, int, float, str, type(None)):
            return None
        return lambda names: constant
    if isinstance(node, ast.Name):
        return _name(node.id)
    if isinstance(node, ast.Attribute):
        attr = node.attr
        if attr.startswith(tuple(DISALLOW_PREFIXES)) or attr in DISALLOW_METHODS:
            return None
        base = compile_closures(node.value)
        return None if base is None else _attribute(base, attr)
    if isinstance(node, ast.Compare):
        parts = [compile_closures(n) for n in (node.left, *node.comparators)]
        ops = [DEFAULT_OPERATORS.get(type(op)) for op in node.ops]
        if any(p is None for p in parts) or any(op is None for op in ops):
            return None
        return _compare([p for p in parts if p is not None], ops)
    if isinstance(node, ast.BoolOp):
        values = [compile_closures(v) for v in node.values]
        if any(v is None for v in values):
            return None
        return _boolop(isinstance(node.op, ast.And), [v for v in values if v is not None])
    if isinstance(node, ast.UnaryOp):
        unary = DEFAULT_OPERATORS.get(type(node.op))
        operand = compile_closures(node.operand)
        if unary is None or operand is None:
            return None
        return lambda names: unary(operand(names))
    return None


def _name(ident: str) -> Closure:
    def name(names: dict[str, Any]) -> Any:
        try:
            return names[ident]
        except KeyError:  # a function name used as a value, or an unknown name
            raise NeedsSimpleEval from None

    return name


def _attribute(base: Closure, attr: str) -> Closure:
    def attribute(names: dict[str, Any]) -> Any:
        value = base(names)
        if type(value) is not View:  # None, text, a number: simpleeval's rules apply
            raise NeedsSimpleEval
        # What View.__getattr__ returns for a name that is not an attribute of View
        # (no public attributes, and "_" names never get here).
        return _convert(value._data.get(attr))

    return attribute


def _compare(parts: list[Closure], ops: list[Any]) -> Closure:
    if len(ops) == 1:
        left, right, op = parts[0], parts[1], ops[0]
        return lambda names: op(left(names), right(names))

    def chain(names: dict[str, Any]) -> Any:  # as simpleeval: stops at the first falsy
        right = parts[0](names)
        result: Any = True
        for op, part in zip(ops, parts[1:], strict=True):
            if not result:
                break
            left, right = right, part(names)
            result = op(left, right)
        return result

    return chain


def _boolop(conjunction: bool, values: list[Closure]) -> Closure:
    def boolop(names: dict[str, Any]) -> Any:  # returns the deciding value, as Python
        result: Any = False
        for value in values:
            result = value(names)
            if not result if conjunction else result:
                break
        return result

    return boolop


@dataclass(frozen=True)
class Condition:
    """A checked ``when`` expression; ``closure`` is its compiled form, when it has one."""

    source: str
    tree: Any
    closure: Closure | None = field(default=None, compare=False, repr=False)

    def evaluate(self, names: dict[str, Any]) -> tuple[bool, str | None]:
        """``(truthy, error)``: the result, or ``False`` and why it could not evaluate."""
        try:
            if self.closure is not None:
                try:
                    return bool(self.closure(names)), None
                except NeedsSimpleEval:
                    pass
            evaluator = _evaluator()
            evaluator.names = names
            return bool(evaluator.eval(self.source, previously_parsed=self.tree)), None
        except Exception as exc:  # simpleeval raises many kinds; all mean "not true"
            why = explain(self.tree, names)
            if why is not None:
                return False, f"{why}, so condition {self.source!r} is not met"
            return False, f"condition {self.source!r} could not be evaluated: {exc}"


def _label(node: ast.AST) -> str:
    """How a row value is named to a person: ``body.icp_score`` is ``icp_score``."""
    text = ast.unparse(node)
    for prefix in ("body.", "event."):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def explain(tree: Any, names: dict[str, Any]) -> str | None:
    """Why a comparison failed, in plain words: the first operand of a comparison with a
    number that is empty or not a number (``None`` when that is not the reason). Only
    runs when a condition has failed, so it may evaluate operands again."""
    evaluator = _evaluator()
    evaluator.names = names
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        try:
            values = [evaluator.eval(ast.unparse(operand)) for operand in operands]
        except Exception:  # noqa: S112 - an operand that fails itself explains nothing here
            continue
        if not any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            continue
        for operand, value in zip(operands, values, strict=True):
            if value is None:
                return f"{_label(operand)} is empty"
            if isinstance(value, str):
                return f"{_label(operand)} {value!r} is not a number"
    return None


def compile_condition(source: str, names: tuple[str, ...] = NAMES) -> Condition:
    """Check and compile ``source`` over ``names`` (mappings: ``body`` and ``headers``;
    workflow steps: ``event``, ``source`` and ``steps``); :class:`ValueError` says what
    is wrong."""
    allowed = frozenset(names) | _CONSTANTS | frozenset(FUNCTIONS)
    if not isinstance(source, str) or not source.strip():
        raise ValueError("a condition must be a non-empty expression")
    if len(source) > MAX_LENGTH:
        raise ValueError(f"a condition is limited to {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"condition {source!r} does not parse: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in allowed:
            hint = " or ".join(f"{n}.<field>" for n in names)
            raise ValueError(f"condition {source!r} uses unknown name {node.id!r}; use {hint}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ValueError(f"condition {source!r} may not use {node.attr!r}")
        if isinstance(
            node,
            ast.Lambda
            | ast.ListComp
            | ast.DictComp
            | ast.SetComp
            | ast.GeneratorExp
            | ast.NamedExpr,
        ):
            raise ValueError(f"condition {source!r} uses a construct that is not allowed")
    text = source.strip()
    normalised = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", text))
    normalised = re.sub(r"\bnull\b", "None", normalised)
    parsed = SimpleEval(functions=FUNCTIONS).parse(normalised)
    return Condition(normalised, parsed, compile_closures(parsed))
