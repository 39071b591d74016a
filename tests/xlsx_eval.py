"""A small evaluator of the spreadsheet formulas inferplan writes, so tests can recompute a workbook as Excel would.

Supports numbers, strings, TRUE/FALSE, + - * / ^ (left to right; unary minus binds tighter than ^, as in Excel),
comparisons (= <> < > <= >=), parentheses, cell references (A1, $A$1, Sheet!A1, 'Sheet name'!A1) and ranges
(A1:B3), and the functions SUM, MAX, MIN, IF, ROUNDUP, CEILING, ROUND. A referenced formula is evaluated
recursively and memoised; an empty cell is 0. Nothing of planner/ is imported: it checks the workbook on its own.
"""

from __future__ import annotations

import math
import re
from typing import Any

from openpyxl.utils import column_index_from_string, get_column_letter

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"]|"")*")
  | (?P<ref>(?:(?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)(?![\w(])
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<func>[A-Za-z][A-Za-z0-9.]*)(?=\()
  | (?P<bool>TRUE|FALSE)\b
  | (?P<op><=|>=|<>|[-+*/^=<>&(),])
""", re.VERBOSE)


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read formula {text!r} at {text[pos:]!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        pos = m.end()
    return out


def _num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    raise TypeError(f"not a number: {v!r}")


def _flat(args) -> list:
    out = []
    for a in args:
        out += _flat(a) if isinstance(a, list) else [a]
    return out


def _numbers(args) -> list[float]:
    return [float(v) for v in _flat(args) if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _roundup(x, digits=0):
    k = 10 ** int(_num(digits))
    x = _num(x)
    return math.copysign(math.ceil(abs(x) * k) / k, x) if x else 0.0


FUNCTIONS = {
    "SUM": lambda *a: sum(_numbers(a)),
    "MAX": lambda *a: max(_numbers(a)),
    "MIN": lambda *a: min(_numbers(a)),
    "IF": lambda c, a, b=False: a if c else b,
    "ROUNDUP": _roundup,
    "CEILING": lambda x, s=1: math.ceil(_num(x) / _num(s)) * _num(s),
    "ROUND": lambda x, d=0: round(_num(x), int(_num(d))),
}

_COMPARE = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
            ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


class Evaluator:
    """Values of a workbook's cells (openpyxl Workbook loaded with formulas): ``value("Bill", "C15")``."""

    def __init__(self, wb):
        self.wb = wb
        self.memo: dict[tuple[str, str], Any] = {}

    def set(self, sheet: str, coord: str, value: Any) -> None:
        """Change a cell (a what-if) and forget every computed value."""
        self.wb[sheet][coord].value = value
        self.memo.clear()

    def value(self, sheet: str, coord: str) -> Any:
        key = (sheet, coord.replace("$", "").upper())
        if key in self.memo:
            if self.memo[key] is _BUSY:
                raise ValueError(f"circular reference at {sheet}!{coord}")
            return self.memo[key]
        self.memo[key] = _BUSY
        cell = self.wb[sheet][key[1]]
        v = cell.value
        if cell.data_type == "f" and isinstance(v, str) and v.startswith("="):
            v = self.formula(sheet, v[1:])
        self.memo[key] = v
        return v

    def formula(self, sheet: str, text: str) -> Any:
        p = _Parser(self, sheet, tokens(text))
        v = p.expr()
        if p.i != len(p.toks):
            raise ValueError(f"unexpected {p.toks[p.i][1]!r} in {text!r}")
        return v


_BUSY = object()


class _Parser:
    def __init__(self, ev: Evaluator, sheet: str, toks):
        self.ev, self.sheet, self.toks, self.i = ev, sheet, toks, 0

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if want is not None and tok[1] != want:
            raise ValueError(f"expected {want!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def expr(self):
        v = self.concat()
        while self.peek() in _COMPARE:
            op = self.take()[1]
            v = _COMPARE[op](v, self.concat())
        return v

    def concat(self):
        v = self.additive()
        while self.peek() == "&":
            self.take()
            v = f"{v}{self.additive()}"
        return v

    def additive(self):
        v = self.mult()
        while self.peek() in ("+", "-"):
            op, w = self.take()[1], self.mult()
            v = _num(v) + _num(w) if op == "+" else _num(v) - _num(w)
        return v

    def mult(self):
        v = self.power()
        while self.peek() in ("*", "/"):
            op, w = self.take()[1], self.power()
            v = _num(v) * _num(w) if op == "*" else _num(v) / _num(w)
        return v

    def power(self):
        v = self.unary()
        while self.peek() == "^":
            self.take()
            v = _num(v) ** _num(self.unary())
        return v

    def unary(self):
        if self.peek() in ("-", "+"):
            op = self.take()[1]
            v = _num(self.unary())
            return -v if op == "-" else v
        return self.primary()

    def primary(self):
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace('""', '"')
        if kind == "bool":
            return text == "TRUE"
        if kind == "ref":
            return self.ref(text)
        if kind == "func":
            return self.call(text.upper())
        if text == "(":
            v = self.expr()
            self.take(")")
            return v
        raise ValueError(f"unexpected {text!r}")

    def call(self, name: str):
        if name not in FUNCTIONS:
            raise ValueError(f"function {name} is not supported")
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return FUNCTIONS[name](*args)

    def ref(self, text: str):
        sheet = self.sheet
        if "!" in text:
            sheet, text = text.rsplit("!", 1)
            sheet = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
        text = text.replace("$", "")
        if ":" not in text:
            return self.ev.value(sheet, text)
        a, b = text.split(":")
        (c1, r1), (c2, r2) = _split(a), _split(b)
        return [self.ev.value(sheet, f"{get_column_letter(c)}{r}")
                for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)]


def _split(coord: str) -> tuple[int, int]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", coord)
    return column_index_from_string(m.group(1)), int(m.group(2))


def load(path) -> Evaluator:
    """An Evaluator over the workbook at `path` (formulas kept, not cached values)."""
    from openpyxl import load_workbook

    return Evaluator(load_workbook(path))
