"""Column lineage: the raw columns and the models a tier column is computed from.

Derived from the declarations themselves, never from a hand-kept list:
- SQL models: sqlglot's column lineage (`sqlglot.lineage.lineage`) on the RENDERED SQL of each
  model, with a schema holding every relation the model reads (raw sources, the outputs of the
  models before it in the plan, trimmed tiers), so `p.*` expands and `USING` joins resolve.
  Each leaf of sqlglot's graph is a column of a relation: `"__source_<name>"` is the declared
  source <name>, `"<m>__model"` model m, `"<tier>"` the trimmed tier (same columns as its model).
- Python models: their syntax tree (`fts.audit.pymodel`), at the model level: each output column
  depends on every column the model reads, attributed to the source or ref that provides it.
The walk recurses through refs until it reaches raw columns, named `raw.<source>.<column>` after
the declared sources of features_sql/project.yml (`raw.ohlcv.close`, `raw.vix.close`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer import build_scope
from sqlglot.optimizer.qualify import qualify

from fts.audit.pymodel import PythonModelColumns, analyse_python_model
from fts.core.errors import BuildError, ConfigError, NotFoundError
from fts.core.paths import ProjectPaths
from fts.features.declarations import FeatureProject, load_feature_project
from fts.features.graph import plan
from fts.features.render import RenderedModel, relation_name, source_relation

#: Row keys: every model carries them, so they are listed apart from the value columns.
KEY_COLUMNS = ("ticker", "date")
_TYPES = {"ticker": "VARCHAR", "date": "DATE"}
DIALECT = "duckdb"
#: A direct input of a column: ("raw", "raw.ohlcv", "close") or ("model", "a20_talib", "rsi_daily").
Producer = tuple[str, str, str]


@dataclass(frozen=True)
class ModelUse:
    """A model on the lineage path: which of its columns the target depends on, and how we know.

    `method` is "sql" (sqlglot column lineage) or "python-ast" (model-level: `reads` lists
    every column the model's code reads from its inputs).
    """

    name: str
    kind: str
    path: str
    columns: tuple[str, ...]
    method: str
    reads: tuple[str, ...] = ()


@dataclass
class ColumnLineage:
    """Where `tier.column` comes from: raw columns, models, and the column-to-column edges."""

    tier: str
    column: str
    raw_columns: list[str]
    raw_keys: list[str]
    models: list[ModelUse]
    edges: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.tier}.{self.column}"

    def model(self, name: str) -> ModelUse | None:
        return next((m for m in self.models if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "raw_columns": self.raw_columns,
            "raw_keys": self.raw_keys,
            "models": [m.__dict__ | {"columns": list(m.columns), "reads": list(m.reads)}
                       for m in self.models],
            "edges": [list(e) for e in self.edges],
            "notes": self.notes,
        }


def parse_column_target(target: str) -> tuple[str, str]:
    """`"a100.rsi_slope"` -> ("a100", "rsi_slope")."""
    tier, dot, column = target.partition(".")
    if not dot or not tier or not column or "." in column:
        raise ConfigError(f"{target!r}: expected TIER.COLUMN, e.g. a100.rsi_slope")
    return tier, column


def column_lineage(paths: ProjectPaths, target: str) -> ColumnLineage:
    """The lineage of `TIER.COLUMN` from the project's current declarations."""
    tier, column = parse_column_target(target)
    project = load_feature_project(paths.features_sql)
    graph = LineageGraph(project, plan(project, tier), paths)
    return graph.trace(tier, column)


class _SqlModel:
    """A rendered SQL model qualified once against the schema; per-column lineage on demand.

    Qualifying is cheap; asking sqlglot for every column at once is quadratic on wide models,
    so each column's graph is built only when the walk reaches it (sharing the scope).
    """

    def __init__(self, model: RenderedModel, schema: dict[str, dict[str, str]]):
        self.path = model.spec.path
        self.schema = dict(schema)  # the relations defined before this model in the plan
        try:
            parsed = sqlglot.parse_one(model.sql or "", dialect=DIALECT)
            self.expression = qualify(parsed, dialect=DIALECT, schema=self.schema,
                                      validate_qualify_columns=False, identify=False)
            self.scope = build_scope(self.expression)
        except SqlglotError as exc:
            raise BuildError(f"{self.path}: sqlglot cannot read the rendered SQL: {exc}") from exc
        if self.scope is None or not isinstance(self.expression, exp.Query):
            raise BuildError(f"{self.path}: the rendered SQL is not a query")
        self.outputs = tuple(self.expression.named_selects)
        self._nodes: dict[str, Node] = {}

    def node(self, column: str) -> Node | None:
        """sqlglot's lineage graph of one output column (None if the model has no such column)."""
        if column not in self.outputs:
            return None
        if column not in self._nodes:
            try:
                self._nodes[column] = lineage(column, self.expression, schema=self.schema,
                                              dialect=DIALECT, scope=self.scope)
            except SqlglotError as exc:
                raise BuildError(
                    f"{self.path}: sqlglot cannot trace column {column}: {exc}") from exc
        return self._nodes[column]


class LineageGraph:
    """Column-level dependencies of every model in a plan (sqlglot for SQL, AST for Python)."""

    def __init__(self, project: FeatureProject, models: list[RenderedModel],
                 paths: ProjectPaths | None = None):
        self.project = project
        self.paths = paths
        self.by_name = {m.spec.name: m for m in models}
        # relation name as it appears in rendered SQL -> ("raw", "raw.ohlcv") | ("model", name)
        self.relations: dict[str, tuple[str, str]] = {}
        self.schema: dict[str, dict[str, str]] = {}
        for name, source in project.sources.items():
            rel = source_relation(name).strip('"')
            self.relations[rel] = ("raw", f"raw.{name}")
            self.schema[rel] = {c: _TYPES.get(c, "DOUBLE") for c in source.relation_columns}
        self.sql: dict[str, _SqlModel] = {}
        self.python: dict[str, PythonModelColumns] = {}
        self.outputs: dict[str, tuple[str, ...]] = {}
        for model in models:  # plan order: a model's inputs are in the schema before it
            self._add_model(model)

    def _add_model(self, model: RenderedModel) -> None:
        name = model.spec.name
        if model.spec.kind == "sql":
            self.sql[name] = _SqlModel(model, self.schema)
            outputs = self.sql[name].outputs
        else:
            self.python[name] = analyse_python_model(model.spec.path)
            outputs = self.python[name].outputs
        self.outputs[name] = outputs
        columns = {c: _TYPES.get(c, "DOUBLE") for c in outputs}
        rels = [relation_name(name)]
        if name in self.project.tiers:  # the trimmed tier: fewer rows, the same columns
            rels.append(relation_name(name, trimmed_tier=True))
        for rel in rels:
            self.relations[rel.strip('"')] = ("model", name)
            self.schema[rel.strip('"')] = columns

    # -- one step -------------------------------------------------------------------------------
    def producers(self, model: str, column: str) -> tuple[list[Producer], list[str]]:
        """Direct inputs of `model.column`: [(kind "raw"|"model", relation, column)], notes."""
        if model in self.sql:
            return self._sql_producers(model, column)
        return self._python_producers(model)

    def _sql_producers(self, model: str, column: str) -> tuple[list[Producer], list[str]]:
        node = self.sql[model].node(column)
        if node is None:
            return [], [f"{model}: sqlglot finds no output column {column!r}"]
        found: list[Producer] = []
        notes: list[str] = []
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.expression, exp.Table):
                continue  # inner nodes, and leaves that are literals (no input column)
            rel = leaf.expression.name
            col = leaf.name.split(".")[-1]
            if rel not in self.relations:
                notes.append(f"{model}.{column}: reads {rel}.{col}, a relation outside the plan")
                continue
            kind, target = self.relations[rel]
            found.append((kind, target, col))
        return list(dict.fromkeys(found)), notes

    def _python_producers(self, model: str) -> tuple[list[Producer], list[str]]:
        rendered = self.by_name[model]
        reads = self.python[model].reads
        found: list[Producer] = []
        unresolved: list[str] = []
        for col in reads:
            providers = [("raw", f"raw.{s}", col) for s in rendered.sources
                         if col in self.project.sources[s].relation_columns]
            if not providers or col not in KEY_COLUMNS:
                # Keys come from the source when the model reads one; values from whoever has them.
                providers += [("model", r, col) for r in rendered.refs
                              if col in self.outputs.get(r, ())]
            if providers:
                found.extend(providers[:1] if col in KEY_COLUMNS else providers)
            else:
                unresolved.append(col)
        notes = [f"{model}: reads {', '.join(unresolved)}, which no input of the model provides"] \
            if unresolved else []
        if not reads:
            notes.append(f"{model}: its code names no input column; its inputs are "
                         f"{', '.join(self._inputs_text(rendered))}")
        return list(dict.fromkeys(found)), notes

    @staticmethod
    def _inputs_text(rendered: RenderedModel) -> list[str]:
        return [f"raw.{s}" for s in rendered.sources] + list(rendered.refs)

    # -- the walk -------------------------------------------------------------------------------
    def trace(self, tier: str, column: str) -> ColumnLineage:
        """Breadth-first from `tier.column` down to raw columns."""
        self.project.tier(tier)
        if column not in self.outputs.get(tier, ()):
            known = ", ".join(c.name for c in self.project.columns(tier))
            raise NotFoundError(f"tier {tier} has no column {column!r} (columns: {known})")
        queue: deque[tuple[str, str]] = deque([(tier, column)])
        seen: set[tuple[str, str]] = set()
        used: dict[str, list[str]] = {}
        raw: set[str] = set()
        edges: list[tuple[str, str]] = []
        notes: list[str] = []
        while queue:
            model, col = queue.popleft()
            if (model, col) in seen:
                continue
            seen.add((model, col))
            used.setdefault(model, []).append(col)
            found, more = self.producers(model, col)
            notes.extend(more)
            for kind, target, src_col in found:
                edges.append((f"{model}.{col}", f"{target}.{src_col}"))
                if kind == "raw":
                    raw.add(f"{target}.{src_col}")
                else:
                    queue.append((target, src_col))
        return ColumnLineage(
            tier=tier, column=column,
            raw_columns=sorted(r for r in raw if r.rsplit(".", 1)[1] not in KEY_COLUMNS),
            raw_keys=sorted(r for r in raw if r.rsplit(".", 1)[1] in KEY_COLUMNS),
            models=[self._use(name, cols) for name, cols in used.items()],
            edges=list(dict.fromkeys(edges)),
            notes=list(dict.fromkeys(notes)),
        )

    def _use(self, name: str, columns: list[str]) -> ModelUse:
        spec = self.by_name[name].spec
        path = self.paths.relative(spec.path) if self.paths else str(spec.path)
        if name in self.sql:
            return ModelUse(name, "sql", path, tuple(columns), "sql")
        return ModelUse(name, "python", path, tuple(columns), "python-ast",
                        self.python[name].reads)
