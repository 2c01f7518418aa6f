"""Build, store, reload and read datasets: the public entry points of fts.datasets.

`build_dataset` reads the tier's current build and the raw prices in one short read-only
warehouse connection, assembles the arrays in memory (every check happens here, so a failing
build writes nothing), writes `data/datasets/<arrays content hash>.npz` atomically, writes the
dataset manifest and registers it in one short write transaction. The same spec on the same
tier rows (and raw loads) returns the dataset already registered, after verifying its file: of
a per-ticker tier build, the rows of the dataset's own tickers, so rebuilding another ticker of
the tier keeps the dataset (and the studies pinned to its id).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fts.core.errors import ManifestMismatch, NotFoundError, ValidationError
from fts.core.hashing import sha256_json
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.datasets import sources
from fts.datasets.assemble import assemble, select_rows
from fts.datasets.inputs import declared_kinds
from fts.datasets.spec import DatasetSpec
from fts.datasets.storage import arrays_content_sha256, read_npz, write_npz_file
from fts.datasets.windows import WindowSet, full_window_ends, window_view
from fts.warehouse import connect
from fts.warehouse.publish import Publication
from fts.warehouse.tier_files import is_per_ticker

FORMAT_VERSION = 1
_ALIASES = {"validation": "val", "valid": "val"}


class SplitArrays(NamedTuple):
    """One split: windows (n, ctx, F) as views, labels (n,) int8 0/1, dates (n,) datetime64[D]."""

    windows: WindowSet
    labels: np.ndarray
    dates: np.ndarray


class Dataset:
    """A built dataset: its manifest and verified arrays.

    `features` is the (n_rows, n_features) float32 matrix; every window of every split is a
    view into it (see `split`). Rows are grouped by ticker (`tickers`, `ticker_offsets`) and
    ordered by date within a ticker.
    """

    def __init__(self, manifest: Manifest, arrays: dict[str, np.ndarray], path: Path):
        for a in arrays.values():
            a.setflags(write=False)  # windows are views: nobody may edit the shared matrix
        self.manifest = manifest
        self.path = path
        self._arrays = arrays
        self._windows = window_view(arrays["features"], self.ctx_len)

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def spec(self) -> DatasetSpec:
        return DatasetSpec.from_dict(self.manifest["spec"])

    @property
    def ctx_len(self) -> int:
        return int(self.manifest["ctx_len"])

    @property
    def features(self) -> np.ndarray:
        return self._arrays["features"]

    @property
    def feature_names(self) -> list[str]:
        return list(self.manifest["feature_names"])

    @property
    def tickers(self) -> list[str]:
        return list(self.manifest["tickers"])

    @property
    def ticker_offsets(self) -> np.ndarray:
        return self._arrays["ticker_offsets"]

    @property
    def row_dates(self) -> np.ndarray:
        """The date of every feature row, datetime64[D]."""
        return self._arrays["dates"].astype("datetime64[D]")

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["counts"])

    @property
    def folds(self) -> list[tuple[str, str]]:
        """Walk-forward folds as (train split, val split) names; [] for a single split."""
        return [tuple(f) for f in self.manifest["split"]["folds"]]  # type: ignore[misc]

    @property
    def counts(self) -> dict[str, int]:
        """Samples per split."""
        return {k: int(v["samples"]) for k, v in self.manifest["counts"].items()}

    @property
    def positives(self) -> dict[str, int]:
        """Positive labels per split."""
        return {k: int(v["positives"]) for k, v in self.manifest["counts"].items()}

    def all_windows(self) -> np.ndarray:
        """Every window of ctx rows, (n_rows-ctx+1, ctx, F): a view; window w ends at row w+ctx-1."""
        return self._windows

    def ends(self, name: str) -> np.ndarray:
        """The feature-matrix row at which each sample of split `name` ends (its own date)."""
        key = f"ends.{_ALIASES.get(name, name)}"
        if key not in self._arrays:
            raise NotFoundError(f"dataset {self.id[:12]} has no split {name!r} (has {', '.join(self.split_names)})")
        return self._arrays[key]

    def split(self, name: str) -> SplitArrays:
        """(windows, labels, dates) of split `name`: "train", "val", "test" or "fold{j}.train"/".val".

        windows[i] is the (ctx, F) view of rows ends[i]-ctx+1 .. ends[i]; its last row is the
        tier row of dates[i] for that sample's ticker.
        """
        e = self.ends(name)
        return SplitArrays(
            WindowSet(self._windows, e, self.ctx_len),
            self._arrays["labels"][e],
            self._arrays["dates"][e].astype("datetime64[D]"),
        )

    def union(self, names: tuple[str, ...]) -> SplitArrays:
        """The samples of the splits `names` together, in that order (like `split`).

        A final run trains on `PRETEST_SPLITS` (train then val: every sample before the test
        region), each purged against its own successor region as the dataset built it.
        """
        e = np.concatenate([self.ends(n) for n in names])
        return SplitArrays(
            WindowSet(self._windows, e, self.ctx_len),
            self._arrays["labels"][e],
            self._arrays["dates"][e].astype("datetime64[D]"),
        )

    def sample_tickers(self, name: str) -> np.ndarray:
        """The ticker of each sample of split `name`."""
        codes = self._arrays["ticker_codes"][self.ends(name)]
        return np.asarray(self.tickers, dtype=object)[codes]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"Dataset({self.manifest.name}, id={self.id[:12]}, {counts})"


def _arrays_path(paths: ProjectPaths, content_sha: str) -> Path:
    return paths.datasets_data / f"{content_sha}.npz"


def _open_verified(paths: ProjectPaths, manifest: Manifest) -> Dataset:
    out = manifest["outputs"][0]
    path = paths.absolute(out["path"])
    arrays = read_npz(path, out["sha256"], out["content_sha256"])
    return Dataset(manifest, arrays, path)


def _fingerprint(spec: DatasetSpec, tier: dict[str, Any], loads: list[str],
                 common_start: dt.date | None, kinds: list[str] | None) -> str:
    return sha256_json(
        {
            "format": FORMAT_VERSION,
            "spec": spec.to_dict(),
            # A corrected kind changes the inputs, so it must give a different dataset.
            "kinds": kinds,
            **tier,
            "raw_loads": sorted(loads),
            "common_start": common_start.isoformat() if common_start else None,
        }
    )


def _tier_identity(tier: sources.TierBuild, tickers: list[str]) -> dict[str, Any]:
    """What a dataset reads of the tier: of a per-ticker build, its definition and the rows of
    the dataset's own tickers (rebuilding another ticker of the tier leaves the dataset, and the
    studies pinned to it, as they are); of a one-file build, the build itself."""
    m = tier.manifest
    if not is_per_ticker(m):
        return {"tier_manifest": m.id}
    rows = {str(o["ticker"]): str(o["content_sha256"]) for o in m["outputs"]}
    return {"tier_rows": {"fingerprint": m.get("fingerprint"),
                          "tickers": {t: rows.get(t) for t in tickers}}}


def _check_not_excluded(tier: sources.TierBuild, wanted: tuple[str, ...] | None) -> None:
    """A wanted ticker the build left out (--skip-invalid) is named with why, not 'absent'."""
    excluded = tier.manifest.get("excluded") or {}
    hit = [t for t in wanted or () if t in excluded]
    if hit:
        why = " | ".join(f"{t}: {'; '.join(excluded[t])}" for t in hit)
        raise ValidationError(
            f"ticker(s) {', '.join(hit)} are excluded from tier {tier.name}'s build "
            f"{tier.manifest.id[:12]} ({why}); fix their data and rebuild the tier, or leave "
            "them out of the dataset", source=f"tier {tier.name}")


class _Inputs(NamedTuple):
    tier: sources.TierBuild
    table: Any
    loads: dict[str, Any]
    fingerprint: str
    existing: list[Manifest]
    prices: Any
    kinds: list[str] | None


def _read_inputs(paths: ProjectPaths, spec: DatasetSpec, common_start: dt.date | None,
                 verify_tier: bool) -> _Inputs:
    """The tier build and its rows, the raw loads, the dataset fingerprint, the datasets already
    registered under it, the price series (None when one is registered: not needed) and, for
    scale-free inputs, each feature's declared kind."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        tier = sources.tier_build(con, paths, spec.tier)
    # Reading (and re-hashing) the tier's Parquet is file work: the warehouse is not held
    # meanwhile, so a writer elsewhere does not wait for it.
    kinds = (declared_kinds(paths.features_sql, spec.tier, tier.feature_names)
             if spec.inputs == "scale_free" else None)
    _check_not_excluded(tier, spec.tickers)
    table = tier.read(verify=verify_tier, tickers=spec.tickers)
    tickers = sources.ticker_list(table, spec.tickers)
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        loads = sources.raw_loads(con, tier, tickers)
        load_ids = [i.id for i in loads.values()]
        fingerprint = _fingerprint(spec, _tier_identity(tier, tickers), load_ids,
                                   common_start, kinds)
        # A dataset registered before datasets were keyed on their own tickers' rows is found
        # under its tier build's id, so an open study keeps its dataset across the upgrade.
        existing = (sources.find_datasets(con, fingerprint) or sources.find_datasets(
            con, _fingerprint(spec, {"tier_manifest": tier.manifest.id}, load_ids,
                              common_start, kinds)))
        prices = sources.price_series(con, loads) if not existing else None
    return _Inputs(tier, table, loads, fingerprint, existing, prices, kinds)


def build_dataset(
    paths: ProjectPaths,
    spec: DatasetSpec,
    *,
    common_start: dt.date | None = None,
    verify_tier: bool = True,
) -> Dataset:
    """Build (or reuse) the dataset `spec` over the tier's current build.

    `common_start`: the first date a sample may have; pass the same date (see
    `common_sample_start`) for every tier compared in one study so that they are evaluated on
    the same sample dates. Raises ValidationError before writing anything when a split has
    fewer than 50 samples, the selection data (validation over the folds) fewer positives than
    `spec.min_val_positives`, the horizon exceeds the data, or a selected window holds NaN.
    Scale-free inputs (`spec.inputs`) read each feature's kind from the tier's declarations.
    """
    tier, table, loads, fingerprint, existing, prices, kinds = _read_inputs(
        paths, spec, common_start, verify_tier)
    for manifest in existing:
        try:
            return _open_verified(paths, manifest)
        except (ManifestMismatch, NotFoundError):
            continue  # file gone or damaged: rebuild below (the rebuild is byte-identical)
    if prices is None:
        with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
            prices = sources.price_series(con, loads)

    built = assemble(table, tier.feature_names, prices, spec, common_start=common_start,
                     source=f"tier {spec.tier}", kinds=kinds)
    content = arrays_content_sha256(built.arrays)
    path = _arrays_path(paths, content)
    pub = Publication(paths)  # the file is named by its content (see fts.warehouse.publish)
    staged = (pub.adopt(paths.relative(path)) if _same_arrays(path, content) else
              pub.stage(paths.relative(path), lambda tmp: write_npz_file(tmp, built.arrays)))
    file_sha = staged.sha256
    for old in existing:  # a repaired file is byte-identical: keep the registered manifest
        out = old["outputs"][0]
        if (out["sha256"], out["content_sha256"]) == (file_sha, content):
            pub.commit([(old, [staged])])
            return Dataset(old, built.arrays, path)
    manifest = Manifest.create(
        kind="dataset",
        name=spec.label,
        version=FORMAT_VERSION,
        inputs=[tier.input(), *(loads[t] for t in built.tickers)],
        fingerprint=fingerprint,
        spec=spec.to_dict(),
        tier={"name": spec.tier, "manifest_id": tier.manifest.id, "path": tier.relpath},
        target=spec.target.to_manifest(),
        ctx_len=spec.ctx_len,
        sample_rule=f"a sample at t sees tier rows (t-{spec.ctx_len}, t] of its ticker and is "
        f"labelled from raw rows t+1..t+{spec.horizon}; windows containing a null feature are dropped",
        common_start=common_start.isoformat() if common_start else None,
        tickers=built.tickers,
        feature_names=tier.feature_names,
        rows=int(built.arrays["features"].shape[0]),
        split=built.plan.to_manifest(spec.split, spec.horizon),
        normalization=built.normalization,
        model_inputs=built.inputs,
        counts=built.counts,
        selection=built.selection,
        dropped=built.dropped,
        arrays_sha256=file_sha,
        arrays_content_sha256=content,
        outputs=[{"path": paths.relative(path), "sha256": file_sha, "content_sha256": content}],
    )
    pub.commit([(manifest, [staged])])
    return Dataset(manifest, built.arrays, path)


def split_counts(
    paths: ProjectPaths, spec: DatasetSpec, *, common_start: dt.date | None = None
) -> dict[str, int]:
    """Samples per split that `build_dataset(paths, spec, common_start=...)` gives, writing
    nothing: the registered dataset's counts when there is one, else assembled in memory."""
    got = _read_inputs(paths, spec, common_start, False)
    counts = got.existing[0]["counts"] if got.existing else assemble(
        got.table, got.tier.feature_names, got.prices, spec, common_start=common_start,
        source=f"tier {spec.tier}", kinds=got.kinds).counts
    return {k: int(v["samples"]) for k, v in counts.items()}


def _same_arrays(path: Path, content_sha: str) -> bool:
    """True when `path` already holds exactly these arrays (so it need not be rewritten)."""
    if not path.exists():
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return arrays_content_sha256({k: npz[k] for k in npz.files}) == content_sha
    except Exception:  # a damaged file is simply rewritten
        return False


def load_dataset(paths: ProjectPaths, manifest_id: str) -> Dataset:
    """Open a built dataset by manifest id, verifying the arrays file against both hashes."""
    try:
        manifest = sources.dataset_manifest(None, paths, manifest_id)
    except NotFoundError:
        with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
            manifest = sources.dataset_manifest(con, paths, manifest_id)
    return _open_verified(paths, manifest)


def common_sample_start(
    paths: ProjectPaths, tiers: list[str], *, ctx_len: int, tickers: tuple[str, ...] | None = None
) -> dt.date:
    """The latest, across `tiers`, of the first date that ends a full window of ctx_len rows.

    Passing it as `common_start` to `build_dataset` for each tier makes them sample the same
    dates (up to windows dropped for null features), whatever their warm-up.
    """
    firsts: list[int] = []
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        builds = [sources.tier_build(con, paths, t) for t in tiers]
    for tier in builds:
        spec = DatasetSpec(tier.name, 1, 1.0, ctx_len=ctx_len, tickers=tickers)
        firsts.append(_first_full_window(tier, spec))
    return dt.date(1970, 1, 1) + dt.timedelta(days=max(firsts))


def _first_full_window(tier: sources.TierBuild, spec: DatasetSpec) -> int:
    # The same row selection as a build, so the date agrees with what build_dataset samples.
    table = select_rows(tier.read(verify=False, tickers=spec.tickers), tier.feature_names, spec,
                        f"tier {tier.name}")
    tick = np.asarray(table.column("ticker").to_pylist(), dtype=object)
    names = sorted(set(tick.tolist()))
    offsets = np.append(np.searchsorted(tick, np.asarray(names, dtype=object)), len(tick))
    ok = np.ones(len(tick), dtype=bool)
    for name in tier.feature_names:
        ok &= ~np.asarray(table.column(name).is_null().to_numpy(zero_copy_only=False), dtype=bool)
    ends = full_window_ends(ok, offsets, spec.ctx_len)
    if not ends.any():
        raise NotFoundError(f"tier {tier.name} has no full window of {spec.ctx_len} rows")
    days = np.asarray(table.column("date").cast("int32").to_numpy(), dtype=np.int64)
    return int(days[ends].min())

