"""Render models: Jinja SQL with `ref`, `source`, `as_of` and `var`, and the dependencies of
Python models.

Rendering a SQL model records the models it `ref`s and the sources it reads, so the dependency
graph comes from the SQL itself. A Python model's dependencies come from its literal
`ctx.ref("...")`, `ctx.source("...")` and `ctx.as_of("...")` calls, read from its syntax tree.
Every source a model names must be declared under `sources:` in features_sql/project.yml.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from typing import Any

import jinja2

from fts.core.errors import BuildError, ConfigError
from fts.features.declarations import FeatureProject, ModelSpec, SourceSpec


def relation_name(model: str, trimmed_tier: bool = False) -> str:
    """The DuckDB relation that holds a model's output during a build."""
    return f'"{model}"' if trimmed_tier else f'"{model}__model"'


def source_relation(name: str) -> str:
    """The DuckDB relation that holds a declared source's rows during a build."""
    return f'"__source_{name}"'


def as_of_sql(project: FeatureProject, name: str, rows: str | None = None, on: str = "date") -> str:
    """A subquery: for every (ticker, date) of the bars, the latest row of `rows` (a relation
    or CTE; default the series' own rows) with `on` at or before the date, all NULL when that
    row is more than the series' max_staleness_days calendar days older than the date.

    Its columns are ticker, date, then those of `rows` without `on`.
    """
    series = project.sources[name]
    rows = rows or source_relation(name)
    bars = source_relation(project.ohlcv_source)
    # The as-of join finds the date of the latest row; the equality join then brings that row
    # only when it is fresh, so every column of a stale row is NULL alike.
    return f"""(
        select m.ticker, m.date, r.* exclude ({on})
        from (
            select t.ticker, t.date, s.{on} as __as_of
            from (select distinct ticker, date from {bars}) t
            asof left join {rows} s on t.date >= s.{on}
        ) m
        left join {rows} r
            on r.{on} = m.__as_of and datediff('day', m.__as_of, m.date) <= {series.max_staleness_days}
    )"""


@dataclass
class RenderedModel:
    """A model ready to run: its SQL (for SQL models) and what it depends on."""

    spec: ModelSpec
    sql: str | None
    refs: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # declared source names, first use first
    python_source: str | None = None


def check_source(project: FeatureProject, where: str, args: tuple[Any, ...], call: str = "source",
                 ) -> SourceSpec:
    """The declaration a `source(...)`/`as_of(...)` call names; one line with the fix if none."""
    declared = ", ".join(sorted(project.sources)) or "none"
    if len(args) != 1 or not isinstance(args[0], str):
        shown = ", ".join(repr(a) for a in args)
        hint = f"; write {call}({args[-1]!r})" if len(args) == 2 and isinstance(args[-1], str) else ""
        raise BuildError(f"{where}: {call}({shown}): name one declared source{hint} "
                         f"(declared in features_sql/project.yml: {declared})")
    name = args[0]
    if name not in project.sources:
        raise BuildError(f"{where}: {call}({name!r}) names no declared source; declare it under "
                         f"`sources:` in features_sql/project.yml (declared: {declared})")
    spec = project.sources[name]
    if call.endswith("as_of") and spec.kind != "series":
        raise BuildError(f"{where}: {call}({name!r}): {name} is the bars source (kind ohlcv); "
                         "as_of joins a source of kind `series` to the bars")
    return spec


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    """The compiled template of a model's text (with the macros); compiling is the slow part of
    rendering and depends on the text only, so a build and its up-to-date check share it."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(source)


def render_sql(project: FeatureProject, spec: ModelSpec) -> RenderedModel:
    """Render a SQL model with the project's macros; record its refs and sources."""
    rendered = RenderedModel(spec=spec, sql=None)

    def ref(name: str) -> str:
        if name not in project.models:
            raise BuildError(f"{spec.path}: ref({name!r}) names no model in features_sql/")
        if name == spec.name:
            raise BuildError(f"{spec.path}: a model cannot ref itself")
        rendered.refs.append(name)
        return relation_name(name, trimmed_tier=name in project.tiers)

    def source(*args: Any) -> str:
        name = check_source(project, str(spec.path), args).name
        rendered.sources.append(name)
        return source_relation(name)

    def as_of(name: Any = None, rows: str | None = None, on: str = "date") -> str:
        check_source(project, str(spec.path), (name,), "as_of")
        rendered.sources.extend([name, project.ohlcv_source])
        return as_of_sql(project, name, rows, on)

    def var(name: str, default: Any = None) -> Any:
        if name not in project.vars and default is None:
            raise ConfigError(f"{spec.path}: var({name!r}) is not set in features_sql/project.yml")
        return project.vars.get(name, default)

    macros = "".join(p.read_text(encoding="utf-8") + "\n" for p in project.macro_files)
    text = spec.path.read_text(encoding="utf-8")
    try:
        template = _compile(macros + text)
        rendered.sql = template.render(ref=ref, source=source, as_of=as_of, var=var).strip()
    except jinja2.TemplateError as exc:
        raise BuildError(f"{spec.path}: template error: {exc}") from exc
    rendered.refs = list(dict.fromkeys(rendered.refs))
    rendered.sources = list(dict.fromkeys(rendered.sources))
    return rendered


def python_dependencies(project: FeatureProject, spec: ModelSpec) -> RenderedModel:
    """Read a Python model's `ctx.ref`/`ctx.source`/`ctx.as_of` calls (string literals only)."""
    text = spec.path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, filename=str(spec.path))
    except SyntaxError as exc:
        raise BuildError(f"{spec.path}:{exc.lineno}: Python syntax error: {exc.msg}") from exc
    rendered = RenderedModel(spec=spec, sql=None, python_source=text)
    has_model = any(isinstance(n, ast.FunctionDef) and n.name == "model" for n in tree.body)
    if not has_model:
        raise BuildError(f"{spec.path}: a Python model must define `def model(ctx)`")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("ref", "source", "as_of"):
            continue
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if len(args) != len(node.args) or not all(isinstance(a, str) for a in args):
            raise BuildError(
                f"{spec.path}:{node.lineno}: ctx.{node.func.attr}() needs string literals so "
                "that the dependency graph can be read from the code"
            )
        if node.func.attr == "ref" and len(args) == 1:
            rendered.refs.append(args[0])
        elif node.func.attr in ("source", "as_of"):
            where = f"{spec.path}:{node.lineno}"
            name = check_source(project, where, tuple(args), f"ctx.{node.func.attr}").name
            rendered.sources.append(name)
            if node.func.attr == "as_of":
                rendered.sources.append(project.ohlcv_source)
    rendered.refs = list(dict.fromkeys(rendered.refs))
    rendered.sources = list(dict.fromkeys(rendered.sources))
    return rendered


def render_model(project: FeatureProject, spec: ModelSpec) -> RenderedModel:
    """Render a model of either kind."""
    if spec.kind == "sql":
        return render_sql(project, spec)
    return python_dependencies(project, spec)
