"""`fts init DIR`: a new project with the shipped tier declarations and studies, like `dbt init`."""

from __future__ import annotations

import shutil
from pathlib import Path

from fts.core.errors import FtsError, NotFoundError

# The shipped declarations live at the top of the source tree (the repository is itself a
# ready project); an editable install, which `make` performs, finds them there.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("features_sql", "studies")


def init_project(directory: str | Path) -> Path:
    """Create `directory` with features_sql/, studies/, manifests/ and a .gitignore.

    Refuses a directory that already holds a project, so nothing is overwritten.
    """
    target = Path(directory).expanduser().resolve()
    if (target / "features_sql").exists() or (target / "warehouse.duckdb").exists():
        raise FtsError(f"{target} already holds an fts project; nothing was changed")
    missing = [name for name in SHIPPED if not (SOURCE_ROOT / name).is_dir()]
    if "features_sql" in missing:
        raise NotFoundError(
            f"the shipped declarations were not found under {SOURCE_ROOT}; install fts from its "
            "repository (`pip install -e .`)"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        src = SOURCE_ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "manifests").mkdir(exist_ok=True)
    (target / ".gitignore").write_text(
        "warehouse.duckdb\nwarehouse.duckdb.wal\ndata/\nmanifests/\n", encoding="utf-8"
    )
    return target
