"""Corruption suite for the money readers (issue 10 on the issue-11 families): NCEP and revenue by source.

The same classes as ``test_corruption_readers.py``, on the net-current-expenditure file (a keyed
town-or-region x fiscal-year file) and the two revenue layouts (EdSight percentage exports with a title
block, 2006-2015; amount exports closed by an all-N/A second table, 2018-2025).
"""

from __future__ import annotations

import pytest
from _harness import (
    Target,
    assert_refused,
    blank_after_first,
    cells_of,
    cut_at_line,
    edit_cell,
    find_line,
    header_index,
    lines_of,
    load,
    original,
)

from alliance_study.data.sources import ncep, revenue

pytestmark = pytest.mark.realdata

_EDBOT = "edbot317-source/public-CT-ed-data/data/"
NCEP = Target(ncep, _EDBOT + "district_year_ncep/district_year_ncep.csv")
SHARES = Target(revenue, "CT-Data-Collaborative/edsight-data/data/revenue-sources-district/"
                "revenue-sources__2010-11_excluding-school-construction.csv", alone=False)
AMOUNTS = Target(revenue, _EDBOT + "district_year_revenue/raw/revenue-2020-21.csv", alone=False)
TARGETS = {"ncep": NCEP, "revenue_shares": SHARES, "revenue_amounts": AMOUNTS}


def _column(text: str, first: str, label: str) -> int:
    header = cells_of(lines_of(text)[header_index(text, first)])
    return [" ".join(c.split()) for c in header].index(label)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_unedited_files_load(registry, crosswalk, tmp_path, name):
    target = TARGETS[name]
    assert load(registry, crosswalk, tmp_path, target, original(registry, target)) is not None


# 1. Truncation at a line boundary.
@pytest.mark.parametrize(("name", "share", "match"), [
    ("ncep", 0.97, "rows lost|mistyped|no row"),
    ("revenue_shares", 0.6, "EdSight exports end with"),
    ("revenue_amounts", 0.6, "second table|cut short"),
    ("revenue_amounts", 0.3, "second table|cut short"),
])
def test_truncated_at_line_boundary(registry, crosswalk, tmp_path, name, share, match):
    target = TARGETS[name]
    text = original(registry, target)
    cut = cut_at_line(text, int(len(lines_of(text)) * share))
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, cut), target, cut, match)


# 2. Decimal commas; 3. fractional counts (whole dollars); 4. non-finite values.
@pytest.mark.parametrize(("name", "first", "label", "edit", "match"), [
    ("ncep", "district_code", "nce", lambda v: v.replace(".", ","), "decimal comma"),
    ("revenue_shares", "District", "State", lambda v: v.replace(".", ","), "decimal comma"),
    ("revenue_amounts", "District", "Amount", lambda v: f"{int(v) - 1}.5", "not a whole number"),
    ("ncep", "district_code", "nce", lambda v: "Inf", "not a number"),
    ("revenue_shares", "District", "Local", lambda v: "NaN", "not a number"),
])
def test_bad_number(registry, crosswalk, tmp_path, name, first, label, edit, match):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    line = find_line(text, lambda c: (len(c) > col and c[col][:1].isdigit() and "." in c[col]) or (
        len(c) > col and c[col].isdigit() and int(c[col]) > 100), header_index(text, first) + 1)
    bad = edit_cell(text, line, col, edit)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, match)


# 5. A damaged data row (every cell after the name blank) is refused.
@pytest.mark.parametrize("name", ["revenue_shares", "revenue_amounts"])
def test_damaged_row(registry, crosswalk, tmp_path, name):
    target = TARGETS[name]
    text = original(registry, target)
    line = header_index(text, "District") + 1 + 20
    bad = blank_after_first(text, line)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "not a number")


# 6. Town codes swapped in one year.
def test_swapped_town_codes(registry, crosswalk, tmp_path):
    text = original(registry, NCEP)
    line_a = find_line(text, lambda c: c[:1] == ["64"] and c[2] == "2013")
    line_b = find_line(text, lambda c: c[:1] == ["151"] and c[2] == "2013")
    bad = edit_cell(edit_cell(text, line_a, 0, "151"), line_b, 0, "64")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, NCEP, bad), NCEP, bad,
                   "not 'Hartford'|not 'Waterbury'")


# 7. A mistyped year: out of range, or into a year the file has no rows for.
@pytest.mark.parametrize(("value", "match"), [("2003", "below the allowed|mistyped"), ("2015", "mistyped"),
                                            ("2031", "above the allowed|mistyped")])
def test_mistyped_year(registry, crosswalk, tmp_path, value, match):
    text = original(registry, NCEP)
    line = find_line(text, lambda c: c[:1] == ["64"] and c[2] == "2013")
    bad = edit_cell(text, line, 2, value)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, NCEP, bad), NCEP, bad, match)


# 10. CR-only line endings; a non-ASCII digit.
@pytest.mark.parametrize("name", ["ncep", "revenue_shares"])
def test_cr_only_line_endings(registry, crosswalk, tmp_path, name):
    target = TARGETS[name]
    text = original(registry, target)
    bad = text.replace("\r\n", "\n").replace("\n", "\r")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "carriage return",
                   column=False)


def test_non_ascii_digit(registry, crosswalk, tmp_path):
    text = original(registry, NCEP)
    bad = edit_cell(text, 5, 2, "2008\u00b9")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, NCEP, bad), NCEP, bad, "digit|not a number")
