"""Split planning and purging on synthetic calendars (no warehouse)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fts.core.errors import ConfigError, ValidationError
from fts.datasets.splits import (
    NEVER,
    SplitPolicy,
    assign_regions,
    check_min_samples,
    plan_splits,
    to_date,
    to_days,
)

CAL = np.busday_offset(np.datetime64("2010-01-04"), np.arange(2000), roll="forward").astype(np.int64)


def guards(h: int, embargo: int = 0) -> np.ndarray:
    """Guard day of every calendar row for one ticker trading every calendar day."""
    g = np.full(CAL.size, NEVER, dtype=np.int64)
    k = h + embargo
    g[: CAL.size - k] = CAL[k:]
    return g


def test_tail_days_default_uses_last_trading_days() -> None:
    plan = plan_splits(SplitPolicy(), CAL, None)
    assert plan.names == ("train", "val", "test")
    assert plan.region("test").start == CAL[-270]
    assert plan.region("test").stop == CAL[-1] + 1
    assert plan.region("val").start == CAL[-540]
    assert plan.region("train").stop == plan.region("val").start == plan.region("train").purge_before


def test_tail_days_do_not_depend_on_span_start() -> None:
    a = plan_splits(SplitPolicy(), CAL, int(CAL[10]))
    b = plan_splits(SplitPolicy(), CAL, int(CAL[700]))
    assert a.region("test") == b.region("test") and a.region("val") == b.region("val")


def test_fraction_mode_over_span() -> None:
    plan = plan_splits(SplitPolicy.fractions(0.2, 0.1), CAL, int(CAL[1000]))
    span = CAL[1000:]
    assert plan.region("test").start == span[-100]
    assert plan.region("val").start == span[-300]


def test_dates_mode_and_validation() -> None:
    plan = plan_splits(SplitPolicy.dates("2014-01-02", "2015-01-02", "2015-06-30"), CAL, None)
    assert to_date(plan.region("val").start) == dt.date(2014, 1, 2)
    assert to_date(plan.region("test").stop - 1) == dt.date(2015, 6, 30)
    with pytest.raises(ConfigError, match="precede"):
        SplitPolicy.dates("2015-01-02", "2014-01-02")
    with pytest.raises(ConfigError, match="ISO"):
        SplitPolicy.dates("next year", "2014-01-02")


def test_policy_round_trip() -> None:
    for p in (SplitPolicy(), SplitPolicy.dates("2014-01-02", "2015-01-02", embargo=3, folds=3),
              SplitPolicy.fractions(0.1, 0.2)):
        assert SplitPolicy.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="unknown"):
        SplitPolicy.from_dict({"bogus": 1})


def test_calendar_too_short_is_an_error() -> None:
    with pytest.raises(ValidationError, match="trading days"):
        plan_splits(SplitPolicy(val_days=1500, test_days=600), CAL, None)


@pytest.mark.parametrize(("h", "embargo"), [(1, 0), (5, 0), (5, 3), (20, 0)])
def test_purge_keeps_label_windows_out_of_later_regions(h: int, embargo: int) -> None:
    plan = plan_splits(SplitPolicy(embargo=embargo), CAL, None)
    members, purged = assign_regions(CAL, guards(h, embargo), plan)
    for name, nxt in (("train", "val"), ("val", "test")):
        rows = members[name]
        first_next = CAL[members[nxt][0]]
        # the last label row (t+h) and the embargo after it are before the next region
        assert CAL[rows.max() + h + embargo] < first_next
        # and exactly h + embargo samples were purged: nothing more
        assert purged[name] == h + embargo
        assert rows.max() + h + embargo + 1 == members[nxt][0]
    assert purged["test"] == 0


def test_walk_forward_folds() -> None:
    h = 3
    plan = plan_splits(SplitPolicy(folds=3, fold_val_days=200), CAL, None)
    members, _ = assign_regions(CAL, guards(h), plan)
    assert [f for f in plan.folds] == [("fold0.train", "fold0.val"), ("fold1.train", "fold1.val"),
                                      ("fold2.train", "fold2.val")]
    # the last fold is the plain split; test is shared
    np.testing.assert_array_equal(members["fold2.train"], members["train"])
    np.testing.assert_array_equal(members["fold2.val"], members["val"])
    sizes = [members[f"fold{j}.train"].size for j in range(3)]
    assert sizes[0] < sizes[1] < sizes[2]  # expanding
    for j in range(3):
        tr, va = members[f"fold{j}.train"], members[f"fold{j}.val"]
        assert CAL[tr.max() + h] < CAL[va.min()]  # purged against its own validation block
        assert CAL[va.max() + h] < CAL[members["test"].min()]  # no val label reaches test
    assert members["fold0.val"].size == 200 - h and members["fold1.val"].size == 200 - h


def test_walk_forward_that_does_not_fit() -> None:
    with pytest.raises(ValidationError, match="folds"):
        plan_splits(SplitPolicy(folds=10), CAL, None)


def test_min_samples_names_split_and_count() -> None:
    with pytest.raises(ValidationError, match=r"'val' has 49 samples"):
        check_min_samples({"train": 500, "val": 49, "test": 300})
    check_min_samples({"train": 50})


def test_day_conversions() -> None:
    assert to_days(dt.date(1970, 1, 2)) == 1 and to_date(365) == dt.date(1971, 1, 1)
