"""Twice the close: a Python model."""


def model(ctx):
    raw = ctx.source("ohlcv")
    return ctx.per_ticker(raw, lambda g: g[["close"]].rename(columns={"close": "close_x2"}) * 2)
