"""`fts report NAME --html`: report.md as one self-contained HTML page (markdown-it-py with
tables), every figure embedded as a base64 PNG data URI and the style inline, so the file opens
anywhere (a mail attachment, an air-gapped machine) and loads nothing from the network."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; background: #fff; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; }
th { background: #eef2f7; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
code { background: #f4f4f4; padding: 0 0.2em; }
h1, h2, h3 { color: #1a3a5c; }
"""
_IMG_SRC = re.compile(r'(<img\s[^>]*?src=")([^"]+)(")')


def _embed(match: re.Match[str], folder: Path) -> str:
    """An <img src> that names a PNG of the report folder, as a data URI."""
    src = html.unescape(match.group(2))
    path = folder / src
    if "/" in src or not src.endswith(".png") or not path.is_file():
        return match.group(0)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"{match.group(1)}data:image/png;base64,{data}{match.group(3)}"


def render_html(markdown: str, folder: Path, title: str) -> str:
    """The page for `markdown` (report.md's text), with the PNGs it names from `folder`
    embedded."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = _IMG_SRC.sub(lambda m: _embed(m, folder), md.render(markdown))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{body}</body>\n</html>\n")
