"""How the report's figures look and which files they are written as: the screen style of the
HTML report, and the paper style for a journal (single-column width, 8-pt type, PDF with its
fonts embedded)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Style:
    """A figure style.

    ``rc``: matplotlib settings while a figure is drawn and saved (the figure modules size their
    texts relative to ``font.size``: "small", "x-small"). ``formats``: the files written per figure.
    ``png_dpi``: resolution of the PNG. ``column_in``/``page_in``: the width (inches) a figure is
    set to, a column for figures drawn up to ``WIDE_IN`` wide, the page for wider (multi-panel)
    ones; None keeps the size each figure is drawn at.
    """

    name: str
    rc: dict = field(default_factory=dict)
    formats: tuple[str, ...] = ("png", "svg")
    png_dpi: int = 110
    column_in: float | None = None
    page_in: float | None = None

    def size_in(self, width_in: float, height_in: float,
                min_height_in: float = 0.0) -> tuple[float, float]:
        """The size (inches) a figure drawn at ``width_in`` x ``height_in`` is given: as drawn,
        or scaled to the column (the page when wider than ``WIDE_IN``), keeping its aspect ratio
        but no lower than ``MIN_HEIGHT_IN`` or the figure's own ``min_height_in`` (room for what
        it draws at a fixed size in inches: titles, labels)."""
        if self.column_in is None:
            return width_in, height_in
        width = self.page_in if width_in > WIDE_IN else self.column_in
        return width, max(height_in * width / width_in, MIN_HEIGHT_IN, min_height_in)


#: figures drawn wider than this (inches) hold panels side by side and take the page width
WIDE_IN = 8.0
#: the lowest a figure is made in the paper style (inches): room for a plot between its labels
MIN_HEIGHT_IN = 2.4

#: the HTML report's figures: PNG for the page, SVG with its text kept as text (editable,
#: searchable)
SCREEN = Style("screen", rc={"svg.fonttype": "none"})

#: single-column journal figures: 3.5 in (89 mm) wide, 7.0 in (178 mm) for multi-panel ones,
#: 8-pt type (7 pt tick labels, 6.7 pt legends), thinner lines, PNG at 300 dpi, and PDF with
#: TrueType (Type 42) fonts embedded, as journals ask, instead of Type 3 outlines
PAPER = Style("paper", rc={
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "legend.fontsize": "small", "figure.titlesize": 9,
    "lines.linewidth": 1.0, "lines.markersize": 4, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 3, "ytick.major.size": 3,
    "legend.frameon": False, "legend.handlelength": 1.5,
    "pdf.fonttype": 42, "svg.fonttype": "none"},
    formats=("png", "svg", "pdf"), png_dpi=300, column_in=3.5, page_in=7.0)

STYLES = {s.name: s for s in (SCREEN, PAPER)}
