"""Feature tiers: declarations in features_sql/, rendered and built into validated Parquet."""

from fts.features.build import BuildResult, TierResult, build_tier
from fts.features.declarations import FeatureProject, load_feature_project
from fts.features.describe import describe_tier, list_tiers, tier_schema_yaml

__all__ = [
    "BuildResult",
    "FeatureProject",
    "TierResult",
    "build_tier",
    "describe_tier",
    "list_tiers",
    "tier_schema_yaml",
    "load_feature_project",
]
