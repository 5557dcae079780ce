"""One self-contained HTML page: inline CSS, figures as base64 PNG, no external URL.

The page must open offline and be mailable as one file, so nothing is linked: no
stylesheet, font, script or image from elsewhere.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1300px; padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
p.lead { color: #555; margin-top: 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto;
      font-size: 0.8em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
nav ul { columns: 2; font-size: 0.9em; }
"""


@dataclass
class Section:
    """One part of the report: a heading, text, figures (PNG bytes) and raw HTML."""

    id: str
    title: str
    text: str = ""  # plain text, escaped on output; paragraphs split on blank lines
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)  # (id, alt, png)
    html: str = ""  # trusted HTML built by this package (tables), placed after figures


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def table(rows: list[dict], columns: list[tuple[str, str]], text_cols: set[str] = frozenset()):
    """An HTML table of rows (dicts); columns = (key, header). Values are escaped."""
    head = "".join(
        f'<th class="{"text" if k in text_cols else ""}">{esc(h)}</th>' for k, h in columns
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"text" if k in text_cols else ""}">{esc(row.get(k, ""))}</td>'
            for k, _ in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{esc(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page as a string."""
    nav = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f'<h1>{esc(title)}</h1><p class="lead">{esc(subtitle)}</p>',
        f"<nav><ul>{nav}</ul></nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>')
        parts.append(_paragraphs(s.text))
        for fig_id, alt, png in s.figures:
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img id="{esc(fig_id)}" alt="{esc(alt)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{esc(alt)}</figcaption>'
                "</figure>"
            )
        parts.append(s.html)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
