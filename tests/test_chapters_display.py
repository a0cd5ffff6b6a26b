"""What the chapters share: display renaming, number formats, the small-multiples grid and its legend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import legend_texts

from alliance_study.chapters import display


def test_rename_for_display_raises_on_a_column_without_a_display_name():
    table = pd.DataFrame({"a": [1], "b": [2]})
    assert list(display.rename_for_display(table, {"a": "A", "b": "B", "c": "C"}).columns) == ["A", "B"]
    with pytest.raises(KeyError, match=r"without a display name: \['b'\]"):
        display.rename_for_display(table, {"a": "A"})


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (1234.5, ",.0f", "1,234"), (0.125, ".2f", "0.12"), (np.nan, ".1f", "not available"),
    (None, ".1f", "not available"), (pd.NA, ".1f", "not available"), (np.float64(2.5), "+.1f", "+2.5"),
])
def test_format_number(value, fmt, text):
    assert display.format_number(value, fmt) == text


def test_facet_grid_hides_unused_panels_and_shares_one_legend():
    fig, axes = display.facet_axes(5, 2, panel_width=4.0, panel_height=2.0)
    assert axes.shape == (3, 2)
    assert tuple(fig.get_size_inches()) == pytest.approx((8.0, 6.6))
    for i, ax in enumerate(axes.flat[:5]):
        ax.plot([0, 1], [0, i], label="first")
        if i % 2:
            ax.plot([0, 1], [1, i], label="second")
    display.finish_facets(fig, axes, 5, max_legend_columns=1)
    assert [ax.get_visible() for ax in axes.flat] == [True] * 5 + [False]
    assert legend_texts(fig) == ["first", "second"]  # each label once, in first-seen order
    assert fig.legends[0]._ncols == 1
    plt.close(fig)


def test_facet_grid_without_labels_has_no_legend():
    fig, axes = display.facet_axes(2, 2, panel_width=3.0, panel_height=2.0)
    for ax in axes.flat:
        ax.plot([0, 1], [0, 1])
    display.finish_facets(fig, axes, 2)
    assert fig.legends == []
    fig2, axes2 = display.facet_axes(1, 1, panel_width=3.0, panel_height=2.0)
    axes2[0, 0].plot([0, 1], [0, 1], label="shown only on request")
    display.finish_facets(fig2, axes2, 1, legend=False)
    assert fig2.legends == []
    plt.close(fig)
    plt.close(fig2)


def test_trend_grid_draws_each_measure_and_marks_missing_data():
    long = pd.DataFrame({
        "year": [2012, 2013] * 4,
        "group": ["Alliance"] * 2 + ["Comparison"] * 2 + ["Alliance"] * 2 + ["Comparison"] * 2,
        "measure": ["a"] * 4 + ["b"] * 4,
        "value": [1.0, 2.0, 3.0, 4.0] + [np.nan] * 4,
    })
    fig = display.trend_grid(long, ["a", "b", "c"], titles={"a": "Measure A"}, ncols=2,
                             labels={"Alliance": "Alliance Districts"})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Measure A", "b", "c"]
    assert len(visible[0].lines) == 2
    assert [t.get_text() for t in visible[1].texts] == ["no data"]
    assert legend_texts(fig) == ["Alliance Districts", "Comparison"]
    plt.close(fig)
