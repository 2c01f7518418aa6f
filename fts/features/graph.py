"""The model dependency graph: which models a tier needs, in an order that can run."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from fts.core.errors import BuildError
from fts.features.declarations import FeatureProject
from fts.features.render import RenderedModel, render_model


def plan(project: FeatureProject, tier: str) -> list[RenderedModel]:
    """Render the tier's final model and everything it refs, in dependency order.

    A missing ref or a cycle is a `BuildError` that names the models involved.
    """
    project.tier(tier)  # unknown tier -> NotFoundError
    rendered: dict[str, RenderedModel] = {}
    stack = [tier]
    while stack:
        name = stack.pop()
        if name in rendered:
            continue
        model = render_model(project, project.models[name])
        rendered[name] = model
        stack.extend(r for r in model.refs if r not in rendered)
    graph = {name: set(m.refs) for name, m in rendered.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1]) if len(exc.args) > 1 else "?"
        raise BuildError(f"dependency cycle between models: {cycle}") from exc
    return [rendered[name] for name in order]


def tiers_in(project: FeatureProject, models: list[RenderedModel]) -> list[str]:
    """The tiers whose final models are in a plan, in build order."""
    return [m.spec.name for m in models if m.spec.name in project.tiers]
