"""HTML pieces of a report: escaping, markdown, tables, MathML equations, inline SVG."""

from __future__ import annotations

import hashlib
import html as _html
import io
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from html.entities import html5
from typing import Any

import numpy as np
import pandas as pd

from ..model import Model

_MAX_TABLE_ROWS = 40
_FLOAT = "{:.6g}".format


# =========================================================================== HTML helpers
def _esc(text: Any) -> str:
    return _html.escape(str(text), quote=True)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:62rem;
margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #345;padding-bottom:.3rem}h2{border-bottom:1px solid #ccd;margin-top:2.2rem}
nav ol{columns:2}pre{background:#f5f6f8;padding:.6rem;overflow-x:auto;font-size:.82rem}
code{background:#f0f1f4;padding:0 .2rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #ccd;padding:.2rem .5rem;text-align:right}th{background:#eef0f4}
td.l,th.l{text-align:left}caption{caption-side:top;font-weight:600;text-align:left;padding:.3rem 0}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#444}
math[display=block]{margin:.4rem 0}.eq{overflow-x:auto}.meta,.note{color:#555;font-size:.9rem}
details{margin:.4rem 0}summary{cursor:pointer}.generated{color:#555}.kv td{white-space:pre-line}
""".strip()


def _inline(text: str) -> str:
    """Escape and apply inline markup: `code`, **bold**, *italic*."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{_esc(part[1:-1])}</code>")
            continue
        s = _esc(part)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def _markdown(text: str, heading: Callable[[int, str], str]) -> str:
    """A small, safe subset of Markdown: headings, paragraphs, lists and code blocks.

    Everything is escaped; ``heading(level, text)`` renders a heading (level 1 = ``#``).
    """
    lines = textwrap.dedent(text).strip("\n").splitlines()
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    code: list[str] | None = None

    def flush() -> None:
        nonlocal list_tag
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append(f"<{list_tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items)
                       + f"</{list_tag}>")
            items.clear()
            list_tag = ""

    for raw in lines:
        line = raw.rstrip()
        if code is not None:
            if line.strip().startswith("```"):
                out.append("<pre>" + _esc("\n".join(code)) + "</pre>")
                code = None
            else:
                code.append(raw)
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code = []
            continue
        m = re.match(r"^(#{1,4})\s+(.*)$", stripped)
        if m:
            flush()
            out.append(heading(len(m.group(1)), m.group(2).strip()))
            continue
        m_ul = re.match(r"^[-*+]\s+(.*)$", stripped)
        m_ol = re.match(r"^\d+[.)]\s+(.*)$", stripped)
        if m_ul or m_ol:
            tag = "ul" if m_ul else "ol"
            if para or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append((m_ul or m_ol).group(1))
            continue
        if not stripped:
            flush()
            continue
        if items and raw[:1].isspace():
            items[-1] += " " + stripped  # continuation of a list item
            continue
        if items:
            flush()
        para.append(stripped)
    if code is not None:
        out.append("<pre>" + _esc("\n".join(code)) + "</pre>")
    flush()
    return "\n".join(out)


def _table_html(df: pd.DataFrame, caption: str | None, max_rows: int | None) -> tuple[str, str]:
    """HTML and plain text of a table, showing at most ``max_rows`` evenly spaced rows."""
    shown = df
    note = ""
    if max_rows is not None and len(df) > max_rows:
        idx = np.unique(np.linspace(0, len(df) - 1, max_rows).round().astype(int))
        shown = df.iloc[idx]
        note = f"{len(idx)} of {len(df)} rows shown (evenly spaced, first and last included)"
    index = not _default_index(df)
    body = shown.to_html(index=index, escape=True, border=0, float_format=_FLOAT, na_rep="NaN",
                         classes="data")
    cap = f"\n<caption>{_esc(caption)}</caption>" if caption else ""
    body = re.sub(r"^<table[^>]*>", lambda m: '<table class="dataframe data">' + cap, body)
    if note:
        body += f'\n<p class="note">{_esc(note)}</p>'
    text = shown.to_string(index=index, float_format=_FLOAT)
    text = ((caption + "\n") if caption else "") + text + (f"\n({note})" if note else "")
    return body, text


def _default_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1


def _frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV serialisation (UTF-8, ``\\n`` line ends, round-trip floats)."""
    text = df.to_csv(index=not _default_index(df), lineterminator="\n", na_rep="NaN")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _kv_table(rows: Sequence[tuple[str, Any]], caption: str | None = None,
              head: tuple[str, str] = ("item", "value")) -> str:
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    body = "".join(f'<tr><th class="l">{_esc(k)}</th><td class="l">{_esc(_plain(v))}</td></tr>'
                   for k, v in rows)
    return (f'<table class="kv">{cap}<thead><tr><th class="l">{_esc(head[0])}</th>'
            f'<th class="l">{_esc(head[1])}</th></tr></thead><tbody>{body}</tbody></table>')


def _plain(v: Any) -> str:
    """A deterministic one-line text for provenance values."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, str):
        return v
    if isinstance(v, Model):
        return f"model '{v.name}' (sha256 {v.content_hash()[:12]})"
    if isinstance(v, pd.DataFrame):
        return f"table {v.shape[0]}x{v.shape[1]} (sha256 {_frame_hash(v)[:12]})"
    if isinstance(v, np.ndarray):
        if v.size <= 12:
            return "[" + ", ".join(_plain(x) for x in v.ravel().tolist()) + "]"
        return f"array {v.shape} (sha256 {hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:12]})"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    if isinstance(v, np.random.Generator):
        return "numpy Generator (state not recorded)"
    if v is None:
        return "None"
    text = str(v)
    # repr() of arbitrary objects may hold a memory address, which would make reports differ
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


# ------------------------------------------------------------------------ equations (MathML)
def _mathml_printer() -> Any:
    import sympy as sp
    from sympy.printing.mathml import MathMLPresentationPrinter

    class _Printer(MathMLPresentationPrinter):
        """sympy's presentation MathML with readable piecewise expressions."""

        def _print_Piecewise(self, expr: sp.Piecewise) -> Any:
            rows = self.dom.createElement("mtable")
            for e, c in expr.args:
                tr = self.dom.createElement("mtr")
                for node in (self._print(e), self._otherwise() if c is sp.true else
                             self._if(c)):
                    td = self.dom.createElement("mtd")
                    td.appendChild(node)
                    tr.appendChild(td)
                rows.appendChild(tr)
            mrow = self.dom.createElement("mrow")
            brace = self.dom.createElement("mo")
            brace.appendChild(self.dom.createTextNode("{"))
            mrow.appendChild(brace)
            mrow.appendChild(rows)
            return mrow

        def _if(self, c: Any) -> Any:
            mrow = self.dom.createElement("mrow")
            word = self.dom.createElement("mtext")
            word.appendChild(self.dom.createTextNode("if\u00a0"))
            mrow.appendChild(word)
            mrow.appendChild(self._print(c))
            return mrow

        def _otherwise(self) -> Any:
            word = self.dom.createElement("mtext")
            word.appendChild(self.dom.createTextNode("otherwise"))
            return word

    return _Printer({"mul_symbol": "dot"})


_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")


def _numeric_entities(text: str) -> str:
    """Named character references -> numeric ones (valid in any HTML or XML parser)."""
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in ("amp", "lt", "gt", "quot"):
            return m.group(0)
        ch = html5.get(name + ";")
        return "".join(f"&#x{ord(c):X};" for c in ch) if ch else m.group(0)

    return _ENTITY.sub(sub, text)


def _math(printer: Any, lhs: str, expr: Any) -> str:
    body = _numeric_entities(printer.doprint(expr))
    return (f'<div class="eq"><math display="block"><mrow>{lhs}<mo>=</mo>{body}</mrow>'
            f"</math></div>")


def _mi(printer: Any, name: str) -> str:
    import sympy as sp

    return _numeric_entities(printer.doprint(sp.Symbol(name)))


def _ddt(printer: Any, name: str) -> str:
    return (f"<mfrac><mrow><mi>d</mi>{_mi(printer, name)}</mrow><mrow><mi>d</mi><mi>t</mi>"
            "</mrow></mfrac>")


# ------------------------------------------------------------------------ figures
def _figure_svg(fig: Any, number: int) -> str:
    """Inline SVG of a matplotlib figure, deterministic, with ids unique to this figure."""
    import matplotlib
    from matplotlib.collections import QuadMesh

    # A heatmap of thousands of cells is megabytes of vector paths: embed it as pixels.
    for ax in fig.axes:
        for c in ax.collections:
            if isinstance(c, QuadMesh) or len(c.get_paths()) > 2000:
                c.set_rasterized(True)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"pkpd-report-{number}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", dpi=150)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    prefix = f"f{number}-"

    def sub(m: re.Match) -> str:
        return m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2))

    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', sub, svg)
    return svg.strip()


def _close(fig: Any) -> None:
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)

