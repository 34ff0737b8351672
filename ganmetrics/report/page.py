"""``index.html`` from a report's data: ``string.Template`` pieces, every piece of text through ``html.escape``.

The page is self-contained: inline CSS, no script, images beside it in the output folder (``figures/``,
``thumbs/``). File names are shown escaped (undecodable bytes as ``\\xNN``, see ``content.ImageFile.name``) and
link to the original files by ``file://`` URI.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from string import Template
from typing import Any

from ganmetrics.report.content import ImageFile, ReportSide

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.row { display: flex; gap: 6px; align-items: flex-start; margin: 6px 0; flex-wrap: wrap; }
figure { margin: 0; width: 104px; font-size: 0.68em; overflow-wrap: anywhere; }
figure img { display: block; max-width: 96px; max-height: 96px; border: 2px solid #ccc; }
figure.query img { border-color: #1f77b4; }
.note { color: #555; font-size: 0.9em; } .missing { color: #a33; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="note">$subtitle</p>
$sections
</body>
</html>
""")
SECTION = Template('<section id="$anchor">\n<h2>$heading</h2>\n$body\n</section>\n')
FIGURE_IMG = Template('<p><img src="$src" alt="$alt"></p>\n')
THUMB = Template(
    '<figure class="$css"><a href="$href"><img src="$src" alt="$alt"></a><figcaption>$caption</figcaption></figure>'
)
THUMB_NO_IMAGE = Template('<figure class="$css"><figcaption>$caption</figcaption></figure>')


def number(value: Any, digits: int = 4) -> str:
    """Return ``value`` formatted for the page (``-`` for None), escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return escape(f"{value:.{digits}g}")
    return escape(str(value))


def table(header: Iterable[str], rows: Iterable[Iterable[str]], numeric: tuple[int, ...] = ()) -> str:
    """Return an HTML table; ``header`` is escaped here, the cells must be escaped already.

    Columns whose index is in ``numeric`` are right-aligned.
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def paragraph(text: str, css: str = "note") -> str:
    """Return ``text`` escaped in a paragraph of class ``css``."""
    return f'<p class="{escape(css)}">{escape(text)}</p>\n'


class Page:
    """Collects the sections of a page and the thumbnails they reference (``thumbnails``: file name -> image)."""

    def __init__(self, title: str, subtitle: str) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[str] = []
        self.thumbnails: dict[str, ImageFile] = {}
        self.figures: list[str] = []

    def section(self, anchor: str, heading: str, body: str) -> None:
        """Add a section; ``body`` must be escaped HTML (built with this module's helpers)."""
        self.sections.append(SECTION.substitute(anchor=escape(anchor), heading=escape(heading), body=body))

    def figure(self, name: str, alt: str) -> str:
        """Return the ``<img>`` of ``figures/name`` and remember that the page references it."""
        self.figures.append(name)
        return FIGURE_IMG.substitute(src=escape(f"figures/{name}"), alt=escape(alt))

    def thumb(self, side_name: str, side: ReportSide, entry: dict[str, Any], caption: str, css: str = "") -> str:
        """Return a thumbnail of sample ``entry["index"]`` of ``side`` with its escaped name and ``caption``.

        Without images (feature files) only the caption is shown, with the row index as the name.
        """
        text = f"{escape(entry['name'])}<br>{escape(caption)}" if caption else escape(entry["name"])
        if side.images is None:
            return THUMB_NO_IMAGE.substitute(css=escape(css), caption=text)
        file_name = f"{side_name}_{entry['index']:06d}.png"
        self.thumbnails[file_name] = side.images[entry["index"]]
        return THUMB.substitute(
            css=escape(css),
            href=escape(entry["link"]),
            src=escape(f"thumbs/{file_name}"),
            alt=escape(entry["name"]),
            caption=text,
        )

    def html(self) -> str:
        """Return the whole page."""
        return PAGE.substitute(
            title=escape(self.title), subtitle=escape(self.subtitle), sections="".join(self.sections)
        )
