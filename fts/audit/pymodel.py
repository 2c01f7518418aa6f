"""What a Python feature model reads and writes, read from its syntax tree (never by running it).

A Python model has no SQL for sqlglot to trace, so its lineage is at the MODEL level: the frames
it reads (`ctx.source(...)`, `ctx.ref(...)`, recorded by the renderer) and the column names it
uses as string subscripts (`g["close"]`, `frame[["ticker", "date", "rsi_daily"]]`, `on=[...]`
keywords; `ctx.per_ticker` reads ticker and date). Every output column of the model is taken
to depend on every column it reads.

Loop variables over literal tuples are expanded, so `for c in ("high", "low"): g[c]` reads both
and `for n in (9, 10): cols[f"dema_{n}"] = ...` writes `dema_9` and `dema_10`. Columns read inside
helper functions defined in other modules (e.g. `fts.features.indicators.weekly_bars(g)`) are not
seen: only the model file's own code is analysed.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fts.core.errors import BuildError

#: Keyword arguments whose values name columns (merge keys, sort keys, `ctx.ref(columns=...)`).
_COLUMN_KEYWORDS = {"on", "left_on", "right_on", "by", "subset", "columns"}
#: An f-string over loop variables expands to at most this many names (guards silly code).
_MAX_EXPANSION = 4096


@dataclass(frozen=True)
class PythonModelColumns:
    """The column names a Python model reads and the ones it writes (ticker and date first)."""

    reads: tuple[str, ...]
    outputs: tuple[str, ...]


def analyse_python_model(path: Path) -> PythonModelColumns:
    """Parse the model file at `path` and collect its column reads and writes."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise BuildError(f"{path}:{exc.lineno}: Python syntax error: {exc.msg}") from exc
    scanner = _Scanner()
    scanner.visit(tree)
    # `ctx.per_ticker` puts ticker and date in front of whatever the function returns.
    outputs = ["ticker", "date", *(c for c in scanner.outputs if c not in ("ticker", "date"))]
    return PythonModelColumns(
        reads=tuple(dict.fromkeys(scanner.reads)), outputs=tuple(dict.fromkeys(outputs))
    )


def _literal_values(node: ast.AST) -> tuple[object, ...] | None:
    """The constants of a literal tuple/list (a loop's iterable), else None."""
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) for e in node.elts
    ):
        return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


class _Scanner(ast.NodeVisitor):
    """Walks a module, tracking loop variables bound to literal values."""

    def __init__(self) -> None:
        self.env: dict[str, tuple[object, ...]] = {}
        self.reads: list[str] = []
        self.outputs: list[str] = []

    @contextlib.contextmanager
    def _bind(self, bindings: dict[str, tuple[object, ...]]) -> Iterator[None]:
        saved = dict(self.env)
        self.env.update(bindings)
        try:
            yield
        finally:
            self.env = saved

    @staticmethod
    def _loop_binding(target: ast.AST, iterable: ast.AST) -> dict[str, tuple[object, ...]]:
        values = _literal_values(iterable)
        if isinstance(target, ast.Name) and values is not None:
            return {target.id: values}
        return {}

    def visit_For(self, node: ast.For) -> None:
        with self._bind(self._loop_binding(node.target, node.iter)):
            self.generic_visit(node)

    def _visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        bindings: dict[str, tuple[object, ...]] = {}
        for gen in node.generators:
            bindings.update(self._loop_binding(gen.target, gen.iter))
        with self._bind(bindings):
            self.generic_visit(node)

    visit_ListComp = _visit_comprehension
    visit_SetComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension
    visit_DictComp = _visit_comprehension

    def visit_Subscript(self, node: ast.Subscript) -> None:
        names = self.strings(node.slice)
        (self.outputs if isinstance(node.ctx, ast.Store) else self.reads).extend(names)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "DataFrame":  # pd.DataFrame({"col": ...}): the keys are output columns
            for arg in node.args:
                if isinstance(arg, ast.Dict):
                    for key in arg.keys:
                        if key is not None:
                            self.outputs.extend(self.strings(key))
        if name == "per_ticker":  # groups by ticker and orders each group by date
            self.reads.extend(("ticker", "date"))
        for kw in node.keywords:
            if kw.arg in _COLUMN_KEYWORDS:
                self.reads.extend(self.strings(kw.value))
        self.generic_visit(node)

    def strings(self, node: ast.AST) -> list[str]:
        """The column names an expression denotes: literals, literal lists, bound loop vars."""
        if isinstance(node, ast.Constant):
            return [node.value] if isinstance(node.value, str) else []
        if isinstance(node, ast.List | ast.Tuple):
            return [s for e in node.elts for s in self.strings(e)]
        if isinstance(node, ast.Name) and node.id in self.env:
            return [v for v in self.env[node.id] if isinstance(v, str)]
        if isinstance(node, ast.JoinedStr):
            return self._expand_fstring(node)
        return []

    def _expand_fstring(self, node: ast.JoinedStr) -> list[str]:
        parts: list[tuple[str, ...]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append((str(value.value),))
            elif (
                isinstance(value, ast.FormattedValue)
                and isinstance(value.value, ast.Name)
                and value.value.id in self.env
                and value.format_spec is None
                and value.conversion == -1
            ):
                parts.append(tuple(str(v) for v in self.env[value.value.id]))
            else:
                return []  # not expandable statically: not a column name we can know
        combos = itertools.islice(itertools.product(*parts), _MAX_EXPANSION)
        return ["".join(c) for c in combos]
