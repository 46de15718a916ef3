"""A small, dependency-light HTML report: headings, text, tables and matplotlib figures.

Figures are saved as PNG files beside ``index.html`` so the report is a plain directory that
opens in any browser without a server.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { border-bottom: 3px solid #b3261e; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; }
figcaption { color: #555; font-size: .9rem; }
.note { color: #555; font-size: .9rem; }
"""


@dataclass
class HtmlReport:
    """Collects sections and writes ``index.html`` plus figure files to a directory."""

    title: str
    parts: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, css: str | None = None) -> None:
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, headers: list[str], rows: list[list[object]], caption: str | None = None) -> None:
        def cell(v: object) -> str:
            if isinstance(v, float):
                return f"{v:,.6g}"
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, fig: Figure, name: str, caption: str) -> None:
        self.figures[f"{name}.png"] = fig
        self.parts.append(
            f'<figure><img src="{html.escape(name)}.png" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def write(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for filename, fig in self.figures.items():
            fig.savefig(out / filename, dpi=110, bbox_inches="tight")
            plt.close(fig)
        page = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"
            + "\n".join(self.parts)
            + "</body></html>\n"
        )
        path = out / "index.html"
        path.write_text(page, encoding="utf-8")
        return path


def new_figure(width: float = 8.0, height: float = 4.0) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax
