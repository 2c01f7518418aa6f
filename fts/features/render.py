"""Render models: Jinja SQL with `ref`, `source` and `var`, and the dependencies of Python models.

Rendering a SQL model records the models it `ref`s and the sources it reads, so the dependency
graph comes from the SQL itself. A Python model's dependencies come from its literal
`ctx.ref("...")` and `ctx.source("...", "...")` calls, read from its syntax tree.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from typing import Any

import jinja2

from fts.core.errors import BuildError, ConfigError
from fts.features.declarations import FeatureProject, ModelSpec

SOURCES = {("raw", "ohlcv"), ("raw", "vix")}


def relation_name(model: str, trimmed_tier: bool = False) -> str:
    """The DuckDB relation that holds a model's output during a build."""
    return f'"{model}"' if trimmed_tier else f'"{model}__model"'


def source_relation(schema: str, name: str) -> str:
    return f'"__source_{schema}_{name}"'


@dataclass
class RenderedModel:
    """A model ready to run: its SQL (for SQL models) and what it depends on."""

    spec: ModelSpec
    sql: str | None
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    python_source: str | None = None


def _check_source(model: str, schema: str, name: str) -> None:
    if (schema, name) not in SOURCES:
        known = ", ".join(f"{s}.{n}" for s, n in sorted(SOURCES))
        raise BuildError(f"model {model}: unknown source {schema}.{name} (known: {known})")


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

    def source(schema: str, name: str) -> str:
        _check_source(spec.name, schema, name)
        rendered.sources.append((schema, name))
        return source_relation(schema, name)

    def var(name: str, default: Any = None) -> Any:
        if name not in project.vars and default is None:
            raise ConfigError(f"{spec.path}: var({name!r}) is not set in features_sql/project.yml")
        return project.vars.get(name, default)

    macros = "".join(p.read_text(encoding="utf-8") + "\n" for p in project.macro_files)
    text = spec.path.read_text(encoding="utf-8")
    try:
        template = _compile(macros + text)
        rendered.sql = template.render(ref=ref, source=source, var=var).strip()
    except jinja2.TemplateError as exc:
        raise BuildError(f"{spec.path}: template error: {exc}") from exc
    rendered.refs = list(dict.fromkeys(rendered.refs))
    rendered.sources = list(dict.fromkeys(rendered.sources))
    return rendered


def python_dependencies(spec: ModelSpec) -> RenderedModel:
    """Read a Python model's `ctx.ref`/`ctx.source` calls (string literals only)."""
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
        if node.func.attr not in ("ref", "source"):
            continue
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if len(args) != len(node.args) or not all(isinstance(a, str) for a in args):
            raise BuildError(
                f"{spec.path}:{node.lineno}: ctx.{node.func.attr}() needs string literals so "
                "that the dependency graph can be read from the code"
            )
        if node.func.attr == "ref" and len(args) == 1:
            rendered.refs.append(args[0])
        elif node.func.attr == "source" and len(args) == 2:
            _check_source(spec.name, args[0], args[1])
            rendered.sources.append((args[0], args[1]))
    rendered.refs = list(dict.fromkeys(rendered.refs))
    rendered.sources = list(dict.fromkeys(rendered.sources))
    return rendered


def render_model(project: FeatureProject, spec: ModelSpec) -> RenderedModel:
    """Render a model of either kind."""
    if spec.kind == "sql":
        return render_sql(project, spec)
    return python_dependencies(spec)
