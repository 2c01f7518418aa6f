"""Fingerprints of definitions: whitespace, comments and docstrings do not count as change.

SQL is fingerprinted from sqlglot's token stream of the rendered statement (comments and
whitespace are not tokens); Python models from their syntax tree with docstrings removed,
unparsed back to canonical source, plus the helper module they may import
(`fts.features.indicators`).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlglot.errors import TokenError
from sqlglot.tokens import Tokenizer

from fts.core.errors import BuildError
from fts.core.hashing import sha256_bytes, sha256_json

HELPER_MODULES = (Path(__file__).with_name("indicators.py"),)


def sql_fingerprint(sql: str, origin: str) -> str:
    """SHA-256 of the rendered SQL's tokens; `origin` names the file in a syntax error."""
    try:
        return _sql_token_hash(sql)
    except TokenError as exc:
        raise BuildError(f"{origin}: SQL syntax error: {exc}") from exc


# Cached on the text alone (not its path): the same declarations copied to another project, as
# in tests and benchmarks, are tokenized once per process. Failures are not cached.
@functools.lru_cache(maxsize=1024)
def _sql_token_hash(sql: str) -> str:
    tokens = Tokenizer(dialect="duckdb").tokenize(sql)
    text = "\x1f".join(f"{t.token_type.name}:{t.text}" for t in tokens)
    return sha256_bytes(text.encode("utf-8"))


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        body = getattr(node, "body", None)
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _strip


def python_fingerprint_text(source: str, origin: str) -> str:
    """SHA-256 of a Python module's syntax tree without docstrings, comments or layout."""
    try:
        return _python_tree_hash(source)
    except SyntaxError as exc:
        raise BuildError(f"{origin}:{exc.lineno}: Python syntax error: {exc.msg}") from exc


@functools.lru_cache(maxsize=1024)
def _python_tree_hash(source: str) -> str:
    tree = _StripDocstrings().visit(ast.parse(source))
    # ast.unparse gives canonical source (no comments, one layout) that stays the same across
    # Python versions, where ast.dump's node fields do not.
    return sha256_bytes(ast.unparse(tree).encode("utf-8"))


def python_fingerprint(source: str, origin: str) -> str:
    """A Python model's fingerprint: its own tree plus the helper modules it can import."""
    parts = [python_fingerprint_text(source, origin)]
    for helper in HELPER_MODULES:
        if helper.exists():
            parts.append(python_fingerprint_text(helper.read_text(encoding="utf-8"), str(helper)))
    return sha256_json(parts)
