"""What the chapters share: glue, the house plotting style, markdown tables, shared figures.

Notebooks stay thin: a parameters cell, calls into the library, a figure or table, a sentence. Every number
that appears in prose goes through :func:`glue` so the book never carries a typed number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

#: Test-regime changes to mark on time-series figures (shared/data/README.md, STUDY_FACTS.md):
#: CMT/CAPT through spring 2013; 2014 a Smarter Balanced field-test year with no results for most
#: districts; Smarter Balanced from spring 2015; no state tests in spring 2020 (pandemic).
TEST_REGIME_BREAKS: dict[int, str] = {
    2014: "SBAC field test (no results)",
    2015: "Smarter Balanced begins",
    2020: "no tests (pandemic)",
}

#: The house palette: Alliance districts in a strong colour, comparisons in greys and a second hue.
PALETTE = {"alliance": "#b2182b", "comparison": "#2166ac", "state": "#636363", "district": "#e08214",
           "other": "#bababa"}


def glue(name: str, value: Any, fmt: str | None = None) -> Any:
    """Glue a value for the book's prose (myst-nb), formatted when ``fmt`` is given; return the value.

    Outside a book build (plain Python) this still records nothing and returns the value, so library
    code and tests can call notebook code paths.
    """
    shown = format(value, fmt) if fmt else value
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - myst-nb is in the book extra
        return value
    _glue(name, shown, display=False)
    return value


#: Smallest font (points) the house style uses. A figure W inches wide shown S CSS px wide draws 10 pt text at
#: 10/72 x S/W px, whatever the dpi: in the book's ~780 px column at 1400 px that is >= 10 px up to 10.8 in.
#: Glued figures are shrunk to :data:`MAX_FIGURE_WIDTH_IN` (:func:`fit_width`; margin for legends outside).
MIN_FONT_PT = 10
FIGURE_DPI = 110
MAX_FIGURE_WIDTH_IN = 9.5


def min_font_px(fig, dpi: float | None = None) -> float | None:
    """The smallest visible text of ``fig`` in image pixels at ``dpi`` (the figure's dpi if None).

    Only text that is drawn counts: visible, non-empty, on a visible axes (or on the figure itself); call
    it after the figure was drawn (tick labels get their text then). Returns None for a figure without text.
    """
    from matplotlib.text import Text

    dpi = dpi or fig.dpi
    sizes = []
    owners = [fig] + [ax for ax in fig.axes if ax.get_visible()]
    for owner in owners:
        children = owner.findobj(Text) if owner is not fig else [*fig.texts, *[t for lg in fig.legends
                                                                             for t in lg.findobj(Text)]]
        for artist in children:
            if artist.get_visible() and artist.get_text().strip():
                parent = getattr(artist, "axes", None)
                if parent is not None and not parent.get_visible():
                    continue
                sizes.append(artist.get_fontsize())
    return min(sizes) * dpi / 72 if sizes else None


def figure_png(fig) -> bytes:
    """A figure as PNG (tight bounding box) recording its smallest text size for ``check-book``.

    The PNG's text chunk ``MinFontPx`` holds the smallest font in image pixels; the book check compares
    it with the width the browser displays the image at (:mod:`alliance_study.book.page_checks`).
    """
    import io

    import matplotlib as mpl

    dpi = mpl.rcParams["savefig.dpi"]
    dpi = fig.dpi if dpi == "figure" else float(dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    data = buf.getvalue()
    # Measured after drawing: tick labels get their text only when the figure is drawn.
    px = min_font_px(fig, dpi)
    return data if px is None else _png_with_text(data, "MinFontPx", f"{px:.2f}")


def _png_with_text(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``key=value`` inserted before its ``IEND`` chunk (PNG spec 11.3.4.3)."""
    import struct
    import zlib

    body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end = png.rindex(b"IEND") - 4  # the IEND chunk starts with its 4-byte length
    return png[:end] + chunk + png[end:]


def setup_style() -> None:
    """Apply the house matplotlib style (readable sizes, light grid, no top/right spines).

    Sizes follow :data:`MIN_FONT_PT` and :data:`FIGURE_DPI`; figures glued with :func:`glue_figure` are
    rendered by :func:`figure_png`, so the book check can verify their text is legible.
    """
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (8, 4.5),
        "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.titlesize": MIN_FONT_PT + 2,
        "axes.labelsize": MIN_FONT_PT + 1,
        "xtick.labelsize": MIN_FONT_PT,
        "ytick.labelsize": MIN_FONT_PT,
        "legend.fontsize": MIN_FONT_PT,
        "legend.title_fontsize": MIN_FONT_PT,
        "legend.frameon": False,
        "font.size": MIN_FONT_PT,
    })


def mark_test_regimes(ax, years: Iterable[int] | None = None, label: bool = True) -> None:
    """Draw the test-regime breaks (:data:`TEST_REGIME_BREAKS`) as dashed vertical lines on ``ax``."""
    lo, hi = ax.get_xlim()
    for year, text in TEST_REGIME_BREAKS.items():
        if years is not None and year not in set(years):
            continue
        if lo <= year <= hi:
            ax.axvline(year, color="#777777", linestyle="--", linewidth=0.8, zorder=0)
            if label:
                ax.annotate(text, (year, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                            va="top", ha="right", fontsize=MIN_FONT_PT, color="#555555")


# --- figures shared by the chapters and the district profiles (added with the book chapters) ----------------

#: Colour of each group label used by :mod:`alliance_study.analysis.describe` long tables.
GROUP_COLORS = {"Alliance": PALETTE["alliance"], "Comparison": PALETTE["comparison"],
                "State": PALETTE["state"], "District": PALETTE["district"],
                "Other Alliance districts": PALETTE["alliance"]}

#: Line styles by group: the state is dotted so it reads as a reference, not a third group of districts.
GROUP_STYLES = {"State": ":", "Other Alliance districts": "--"}


def plot_trend(ax, long: pd.DataFrame, measure: str, title: str | None = None,
               groups: Iterable[str] | None = None, labels: Mapping[str, str] | None = None,
               regimes: bool = False, years: tuple[int, int] | None = None,
               required_group: str | None = None) -> bool:
    """Draw one measure of a long table (``year, group, measure, value``) as one line per group.

    Parameters
    ----------
    ax
        Matplotlib axes.
    long
        Output of :func:`alliance_study.analysis.describe.group_trends` or ``district_profile``.
    measure
        Measure to draw.
    title
        Axes title (the measure name if None).
    groups
        Groups to draw, in order (all groups in ``long`` if None).
    labels
        Legend label per group (the group name if absent).
    regimes
        Mark the test-regime breaks (:func:`mark_test_regimes`).
    years
        x-axis range (first, last year); the data's range if None.
    required_group
        If this group has no value for the measure, write "no data" on the axes instead of lines (the
        district profiles use it so a sparse district shows an explicit note, not an empty plot).

    Returns
    -------
    bool
        True if lines were drawn, False if the axes say "no data".
    """
    sub = long.loc[long["measure"] == measure]
    ax.set_title(title or measure, fontsize=10)
    if years is not None:
        ax.set_xlim(years[0] - 0.5, years[1] + 0.5)
    has_required = required_group is None or sub.loc[sub["group"] == required_group, "value"].notna().any()
    if sub["value"].notna().sum() == 0 or not has_required:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#777777",
                fontsize=11)
        ax.set_yticks([])
        ax.set_xticks([])
        return False
    order = list(groups) if groups is not None else list(dict.fromkeys(sub["group"]))
    for group in order:
        line = sub.loc[sub["group"] == group].sort_values("year")
        if line["value"].notna().any():
            ax.plot(line["year"], line["value"], color=GROUP_COLORS.get(group, PALETTE["other"]),
                    linestyle=GROUP_STYLES.get(group, "-"), marker="o", markersize=3, linewidth=1.6,
                    label=(labels or {}).get(group, group))
    if years is None:
        ax.set_xlim(sub["year"].min() - 0.5, sub["year"].max() + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if regimes:
        mark_test_regimes(ax, label=False)
    return True


def trend_grid(long: pd.DataFrame, measures: Iterable[str], titles: Mapping[str, str] | None = None,
               ncols: int = 2, regime_measures: Iterable[str] = (), years: tuple[int, int] | None = None,
               groups: Iterable[str] | None = None, labels: Mapping[str, str] | None = None,
               required_group: str | None = None, panel_height: float = 2.6):
    """Small multiples: one :func:`plot_trend` panel per measure, one shared legend below.

    Returns the figure (not shown; glue it with :func:`glue_figure`).
    """
    measures = list(measures)
    fig, axes = facet_axes(len(measures), ncols, panel_width=4.3, panel_height=panel_height)
    regime_measures = set(regime_measures)
    for ax, measure in zip(axes.flat, measures, strict=False):
        plot_trend(ax, long, measure, title=(titles or {}).get(measure, measure), groups=groups,
                   labels=labels, regimes=measure in regime_measures, years=years,
                   required_group=required_group)
    return finish_facets(fig, axes, len(measures), max_legend_columns=4, legend_space=0.06)


def facet_axes(n_panels: int, ncols: int, panel_width: float, panel_height: float, extra_height: float = 0.6):
    """A grid of small multiples with room for ``n_panels``: ``(figure, 2-D array of axes)``.

    Each panel is ``panel_width`` x ``panel_height`` inches; ``extra_height`` leaves room for a shared
    legend below. Draw into ``axes.flat`` and close the grid with :func:`finish_facets`.
    """
    import matplotlib.pyplot as plt

    nrows = max(1, -(-n_panels // ncols))
    return plt.subplots(nrows, ncols, figsize=(panel_width * ncols, panel_height * nrows + extra_height),
                        squeeze=False)


def finish_facets(fig, axes, n_used: int, legend: bool = True, max_legend_columns: int | None = None,
                  legend_space: float = 0.06):
    """Close a grid of small multiples: hide unused panels, one shared legend below, tight layout.

    The legend collects every labelled artist of the visible panels once (first handle per label wins);
    it is laid out in at most ``max_legend_columns`` columns (one row if None) in a band of
    ``legend_space`` (figure fraction) at the bottom. Without labelled artists, or with ``legend=False``,
    there is no legend and no band. Returns ``fig``.
    """
    for ax in list(axes.flat)[n_used:]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    if legend:
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
    if handles:
        ncol = len(handles) if max_legend_columns is None else min(max_legend_columns, len(handles))
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol,
                   bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(rect=(0, legend_space, 1, 1))
    else:
        fig.tight_layout()
    return fig


def fit_width(fig, max_width_in: float = MAX_FIGURE_WIDTH_IN) -> bool:
    """Shrink a figure wider than ``max_width_in`` to that width (aspect kept); return True if it shrank.

    The book shows every figure at most the column's width (about 780 CSS px at 1400 px), so a wider figure
    is scaled down with its text: a 12.8-inch figure with 10 pt labels would show them at 8 px. Shrinking
    the canvas instead keeps the text at its point size. The layout is redone (the figure's layout engine,
    or ``tight_layout``) so panels do not overlap at the smaller size.
    """
    width, height = fig.get_size_inches()
    if width <= max_width_in:
        return False
    scale = max_width_in / width
    fig.set_size_inches(width * scale, height * scale)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return True


def raise_small_text(fig, min_pt: float = MIN_FONT_PT) -> int:
    """Set every drawn text of ``fig`` smaller than ``min_pt`` points to ``min_pt``; return how many.

    Chapter figures sometimes set 7-8 pt labels for dense panels; in the book's column they show below
    10 px. Tick labels get their text only when drawn, so the figure is drawn first (without rendering pixels:
    the PNG is rendered once, when glued).
    """
    from matplotlib.text import Text

    fig.draw_without_rendering()
    changed = 0
    for artist in fig.findobj(Text):
        if artist.get_text().strip() and artist.get_fontsize() < min_pt:
            artist.set_fontsize(min_pt)
            changed += 1
    if changed and fig.get_layout_engine() is not None:
        fig.draw_without_rendering()  # let the layout engine make room for the larger text
    return changed


def glue_figure(name: str, fig) -> None:
    """Glue a matplotlib figure for a ``{glue:figure}`` directive and close it (so it is shown once)."""
    import matplotlib.pyplot as plt
    from IPython.display import Image

    fit_width(fig)
    raise_small_text(fig)
    # Rendered here, not by the inline backend, so the PNG records its smallest text (figure_png).
    glue(name, Image(data=figure_png(fig), format="png"))
    plt.close(fig)


def glue_facts(facts: Mapping[str, Any]) -> None:
    """Glue every ``name -> value`` of a chapter's facts (values already formatted as the prose shows them).

    Chapter modules return their glued facts as a dict (``alliance_study.chapters.<chapter>.facts``) so
    the values can be tested without a notebook; this glues them all.
    """
    for name, value in facts.items():
        glue(name, value)


def name_list(names: Sequence[str], empty: str = "none") -> str:
    """Items joined for a sentence: ``a``, ``a and b``, ``a, b and c``; ``empty`` for none.

    Examples
    --------
    >>> name_list(["Hartford", "New Haven", "Bridgeport"])
    'Hartford, New Haven and Bridgeport'
    >>> name_list([])
    'none'
    """
    names = list(names)
    if not names:
        return empty
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def format_number(value: Any, fmt: str, missing: str = "not available") -> str:
    """``value`` formatted with ``fmt``, or ``missing`` when it is NaN or None (see :func:`glue_number`)."""
    import math

    bad = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    return missing if bad else format(value, fmt)


def rename_for_display(table: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """``table`` with its columns renamed by ``columns``; raises if a column has no display name.

    Every column shown must be named on purpose: a column added upstream stops the chapter instead of
    appearing under its code name.
    """
    unknown = [c for c in table.columns if c not in columns]
    if unknown:
        raise KeyError(f"columns without a display name: {unknown}")
    return table.rename(columns=dict(columns))


#: Characters escaped in table cells: MyST would read them as markup (``$`` starts inline math, ``|`` ends
#: a cell, ``*``/``_`` emphasis, braces and backticks roles).
_MARKDOWN_SPECIAL = set("\\`*_{}[]<>#|$~")


def _cell_text(value: Any, column: str, float_format: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if float(value).is_integer() and is_year_column(column):
            return str(int(value))  # years read as 2015, not 2,015
        if isinstance(value, int):
            return f"{value:,}"
        return format(value, float_format)
    return str(value)


def markdown_table(table: pd.DataFrame, index: bool = False, float_format: str = ",.2f") -> str:
    """A DataFrame as a MyST/GFM pipe table, cells escaped so no value is read as markup.

    Integers get thousands separators except in columns whose name contains "year"; floats use
    ``float_format``; missing values are empty.
    """
    frame = table.reset_index() if index else table
    columns = [str(c) for c in frame.columns]

    def esc(text: str) -> str:
        return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text).replace("\n", " ")

    lines = ["| " + " | ".join(esc(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        cells = []
        for value, column in zip(row, columns, strict=True):
            if hasattr(value, "item"):
                value = value.item()  # numpy scalar -> Python
            cells.append(esc(_cell_text(value, column, float_format)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def glue_table(name: str, table: pd.DataFrame, index: bool = False) -> None:
    """Glue a table as Markdown for a numbered ``{table}`` directive (nothing is displayed).

    In the notebook's markdown::

        ````{table} Caption.
        :name: tbl-name

        ```{glue:md} name
        :format: myst
        ```
        ````

    The table is then numbered "Table N" and can be cited with ``{numref}``. The caption (the directive's
    argument) must not contain backticks: they would end the fence's info string.
    """
    from IPython.display import Markdown

    glue(name, Markdown(markdown_table(table, index=index)))


def glue_number(name: str, value: Any, fmt: str, missing: str = "not available") -> str:
    """Glue a number formatted with ``fmt`` (e.g. ``",.1f"``), or ``missing`` when it is NaN or None.

    Chapters run with other parameters (an earlier ``end_year``, another district) can lack a number;
    the prose then reads "not available" instead of "nan". Returns the text glued.
    """
    text = format_number(value, fmt, missing)
    glue(name, text)
    return text


# --- number formats for prose and tables (issue 13: years bare, money rounded to what matters) -------------

#: Column-name fragments of year-like integer columns: printed bare (2015, not 2,015).
YEAR_COLUMN_WORDS = ("year", "cohort", "fy", "window", "spring")


def is_year_column(column: str) -> bool:
    """True when a column holds years (its name contains one of :data:`YEAR_COLUMN_WORDS`)."""
    name = column.lower()
    return any(word in name for word in YEAR_COLUMN_WORDS)


def format_money(value: float, digits: int = 3) -> str:
    """Dollars rounded to what a reader needs: ``$2.19 billion``, ``$39.5 million``, ``$1,290``.

    Amounts of a million or more are written in millions or billions with ``digits`` significant digits
    (trailing zeros kept only to ``digits``: ``$133 million``, ``$2.19 billion``); smaller amounts are whole
    dollars with thousands separators. Negative amounts keep their sign; NaN gives ``"not available"``.

    Examples
    --------
    >>> format_money(2_187_345_000)
    '$2.19 billion'
    >>> format_money(39_500_000)
    '$39.5 million'
    >>> format_money(1290.4)
    '$1,290'
    """
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not available"
    sign = "-" if value < 0 else ""
    amount = abs(float(value))
    for scale, word in ((1e9, "billion"), (1e6, "million")):
        if amount >= scale * 0.9995:
            scaled = float(f"{amount / scale:.{digits}g}")  # rounded first: 0.99999 billion is 1.00
            decimals = max(0, digits - 1 - math.floor(math.log10(scaled)))
            text = f"{scaled:,.{decimals}f}"
            if float(text.replace(",", "")) >= 1000 and word == "million":
                continue  # 999.95 million rounds to 1,000 million: say billion instead
            return f"{sign}${text} {word}"
    return f"{sign}${amount:,.0f}"


def format_per_pupil(value: float) -> str:
    """Dollars per pupil, whole dollars (``$1,290``); ``"not available"`` for NaN.

    Examples
    --------
    >>> format_per_pupil(1181.49)
    '$1,181'
    """
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not available"
    return f"{'-' if value < 0 else ''}${abs(float(value)):,.0f}"


def glue_money(name: str, value: float, per_pupil: bool = False) -> str:
    """Glue an amount of dollars as prose text (:func:`format_money` or :func:`format_per_pupil`)."""
    text = format_per_pupil(value) if per_pupil else format_money(value)
    glue(name, text)
    return text
