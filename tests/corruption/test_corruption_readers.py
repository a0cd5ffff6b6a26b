"""Corruption suite, reader classes (issue 10): each corruption of a real raw file is refused with one
error naming the file, a row that exists in it and the file's own column label; none builds silently.

Classes (numbered as in issue 10): 1 truncation at a line boundary, 2 decimal commas, 3 fractional
counts, 4 non-finite values, 5 damaged data rows taken for notes, 6 code and name disagree, 7 mistyped
years in keyed files, 10 CR-only line endings and non-ASCII digits, 11 every error names its column and an
existing row (checked by ``assert_refused`` in every case). Each class runs on at least two families.
"""

from __future__ import annotations

import pytest
from _harness import (
    TARGETS,
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

pytestmark = pytest.mark.realdata


def _data_line(text: str, first: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` data row after the header starting with ``first``."""
    return header_index(text, first) + 1 + nth


def _column(text: str, first: str, label: str) -> int:
    """0-based index of the header cell ``label`` (whitespace-insensitive)."""
    header = [" ".join(c.split()) for c in cells_of(lines_of(text)[header_index(text, first)])]
    return header.index(label)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_unedited_files_load(registry, crosswalk, tmp_path, name):
    """The harness is sound: every target reads without error when left alone."""
    target = TARGETS[name]
    out = load(registry, crosswalk, tmp_path, target, original(registry, target))
    assert out is not None


# 1. Truncation at a line boundary: each family knows how its export ends.
TRUNCATION = {
    # EdSight exports end with an empty line after the data.
    "absenteeism": ("EdSight exports end with", 0.6),
    # Suspension exports have no title block: the files of the years around it list the missing districts.
    "suspensions": ("cut short", 0.5),
    "sbac": ("EdSight exports end with", 0.7),
    "graduation": ("EdSight exports end with", 0.6),
    "expenditures": ("EdSight exports end with", 0.4),
    "staffing": ("EdSight exports end with", 0.8),
    # Enrollment exports close with a Total row.
    "enrollment": ("EdSight exports end with|no 'Total' row", 0.6),
    # ECS: every town in every fiscal year; histpay: every town, closing with grantee 998.
    "ecs": ("has no row for|row\\(s\\) where", 0.97),
    "histpay": ("cut short|rows lost", 0.5),
    # SEDA: the last year keeps most of its rows or the cut shows.
    "seda": ("a mistyped year, or rows lost", 0.96),
}


@pytest.mark.parametrize("name", sorted(TRUNCATION))
def test_truncated_at_line_boundary(registry, crosswalk, tmp_path, name):
    target = TARGETS[name]
    match, share = TRUNCATION[name]
    text = original(registry, target)
    cut = cut_at_line(text, int(len(lines_of(text)) * share))
    assert cut.endswith("\n")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, cut), target, cut, match,
                   column=name not in ("expenditures",))


# 2. Decimal commas: "63,6" is not 636.
@pytest.mark.parametrize(("name", "first", "label"), [
    ("absenteeism", "District", "%"),
    ("suspensions", "District", "%"),
    ("graduation", "District", "Graduation Rate"),
    ("sbac", "District", "%"),
    ("seda", "sedaadmin", "gcs_mn_avg_eb"),
])
def test_decimal_comma(registry, crosswalk, tmp_path, name, first, label):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    line = find_line(text, lambda c: len(c) > col and "." in c[col] and c[col][0].isdigit(),
                     header_index(text, first) + 1)
    bad = edit_cell(text, line, col, lambda v: v.replace(".", ","))
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "decimal comma")


@pytest.mark.parametrize(("name", "first", "label", "value"), [
    ("ecs", "town_code", "entitlement", "2330,856"),     # a comma after four digits: not a separator
    ("histpay", "town", "pay2010", "12,34.0000"),
])
def test_misplaced_thousands_separator(registry, crosswalk, tmp_path, name, first, label, value):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    bad = edit_cell(text, 2, col, value)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "not a number")


def test_valid_thousands_separators_still_read(registry, crosswalk, tmp_path):
    """Accepting only 3-digit groups does not refuse real separators: 2,330,856 reads as 2330856."""
    target = TARGETS["ecs"]
    text = original(registry, target)
    col = _column(text, "town_code", "entitlement")
    value = cells_of(lines_of(text)[1])[col]
    grouped = edit_cell(text, 2, col, f"{int(value):,}")
    out = load(registry, crosswalk, tmp_path, target, grouped)
    first = out.extra["ecs_town"].sort_values(["town_code", "year"]).iloc[0]
    assert first["ecs_entitlement"] == float(value)


# 3. Fractional counts.
@pytest.mark.parametrize(("name", "first", "label"), [
    ("sbac", "District", "Total Number with Scored Tests"),
    ("sbac", "District", "Total NumberTested"),
    ("cmt_capt", "Test", "Number of Students Tested"),
    ("enrollment", "District", "Count"),
    ("suspensions", "District", "Count"),
    ("absenteeism", "District", "Student Count"),
    ("graduation", "District", "Four-Year Cohort Count"),
])
def test_fractional_count(registry, crosswalk, tmp_path, name, first, label):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    line = find_line(text, lambda c: len(c) > col and c[col].isdigit() and int(c[col]) > 20,
                     header_index(text, first) + 1)
    bad = edit_cell(text, line, col, lambda v: f"{int(v) - 1}.5")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                   "not a whole number")


# 4. Non-finite values spelled out.
@pytest.mark.parametrize("word", ["Inf", "NaN", "-inf", "Infinity"])
@pytest.mark.parametrize(("name", "first", "label"), [
    ("absenteeism", "District", "%"),
    ("ecs", "town_code", "entitlement"),
    ("seda", "sedaadmin", "gcs_mn_avg_eb"),
    ("cmt_capt", "Test", "Standard CAPT Score Summary Average Scale Score"),
])
def test_non_finite(registry, crosswalk, tmp_path, word, name, first, label):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    bad = edit_cell(text, _data_line(text, first, 2), col, word)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "not a number")


# 5. A damaged data row (every cell after the name blank) is refused, never dropped as a note.
@pytest.mark.parametrize("name", ["sbac", "absenteeism", "suspensions", "graduation", "expenditures",
                                  "enrollment"])
@pytest.mark.parametrize("where", ["middle", "last"])
def test_damaged_row_is_not_a_note(registry, crosswalk, tmp_path, name, where):
    target = TARGETS[name]
    text = original(registry, target)
    rows = [i + 1 for i, line in enumerate(lines_of(text))
            if i > header_index(text, "District") and any(c.strip() for c in cells_of(line)[1:])]
    line = rows[len(rows) // 2] if where == "middle" else rows[-1]
    if name == "enrollment" and where == "last":
        line = rows[-2]  # the last row is the Total row
    bad = blank_after_first(text, line)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                   "damaged|not a number|not a 7-digit")


def test_trailing_note_is_counted(registry, crosswalk, tmp_path):
    """A real note after the data (text in the first cell only) is dropped and counted, not refused."""
    target = TARGETS["sbac"]
    text = original(registry, target)
    note = '"Note: counts under 6 are suppressed",,,,,,,,,,,,,,,,\r\n'
    assert text.endswith("\r\n\r\n")
    out = load(registry, crosswalk, tmp_path, target, text[:-2] + note + "\r\n")
    report = next(r for r in out.reports if r.file == target.path)
    assert report.dropped["note line (text in the first cell only)"] == 1


# 6. Code and name disagree (two districts' codes swapped).
@pytest.mark.parametrize(("name", "first", "code_label"), [
    ("absenteeism", "District", "District Code"),
    ("suspensions", "District", "District Code"),
    ("sbac", "District", "District Code"),
    ("enrollment", "District", "District Code"),
    ("cmt_capt", "Test", "District ID"),
])
def test_swapped_codes(registry, crosswalk, tmp_path, name, first, code_label):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, code_label)
    start = header_index(text, first) + 1
    a = find_line(text, lambda c: "Hartford School District" in c, start)
    b = find_line(text, lambda c: "Waterbury School District" in c, start)
    code_a, code_b = cells_of(lines_of(text)[a - 1])[col], cells_of(lines_of(text)[b - 1])[col]
    bad = edit_cell(edit_cell(text, a, col, code_b), b, col, code_a)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "disagree")


@pytest.mark.parametrize("name", ["ecs", "histpay"])
def test_swapped_town_codes(registry, crosswalk, tmp_path, name):
    """Town-keyed money files: the town name must be the town its code names."""
    target = TARGETS[name]
    text = original(registry, target)
    start = header_index(text, "town_code" if name == "ecs" else "town") + 1
    year = cells_of(lines_of(text)[start])[3] if name == "ecs" else None
    swap = {"64": "151", "151": "64"}  # Hartford and Waterbury
    lines = lines_of(text)
    bad = text
    for number, line in enumerate(lines[start:], start=start + 1):
        cells = cells_of(line)
        if cells and cells[0].strip() in swap and (year is None or cells[3] == year):
            for col in ([0, 1] if name == "ecs" else [0]):
                bad = edit_cell(bad, number, col, swap[cells[0].strip()])
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                   "disagree|more than one name")


# 7. A mistyped year in a keyed file.
@pytest.mark.parametrize(("name", "first", "label", "value"), [
    ("ecs", "town_code", "fiscal_year", "2003"),
    ("ecs", "town_code", "fiscal_year", "2031"),
    ("seda", "sedaadmin", "fiscal_year", "2003"),
    ("cmt_capt", "Test", "School Year", "2002-03"),
    ("graduation_transcribed", "District", "fiscal_year", "2014"),
])
def test_mistyped_year(registry, crosswalk, tmp_path, name, first, label, value):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    bad = edit_cell(text, _data_line(text, first, 5), col, value)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                   f"mistyped|not a SEDA|but the file is for|no row|FY{value}")


# 10. CR-only line endings and non-ASCII digits: one error, no traceback.
@pytest.mark.parametrize("name", ["absenteeism", "ecs", "designations", "histpay"])
def test_cr_only_line_endings(registry, crosswalk, tmp_path, name):
    target = TARGETS[name]
    text = original(registry, target)
    bad = text.replace("\r\n", "\n").replace("\n", "\r")
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad, "carriage return",
                   column=False)


@pytest.mark.parametrize(("name", "first", "label", "value"), [
    ("designations", "district", "first_fiscal_year_designated", "2013\u00b9"),
    ("ecs", "town_code", "fiscal_year", "2013\u00b9"),
    ("cmt_capt", "Test", "School Year", "2009-10\u00b9"),
    ("absenteeism", "District", "Student Count", "6\u0661"),  # an Arabic-Indic digit
    ("seda", "sedaadmin", "sedaadmin", "90003\u00b2"),
])
def test_non_ascii_digit(registry, crosswalk, tmp_path, name, first, label, value):
    target = TARGETS[name]
    text = original(registry, target)
    col = _column(text, first, label)
    bad = edit_cell(text, _data_line(text, first, 1), col, value)
    assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                   "digit|not a|no school year")


# 11. The CMT school-year error names its column (the file's own label) and an existing row.
def test_cmt_school_year_error_names_its_column(registry, crosswalk, tmp_path):
    target = TARGETS["cmt_capt"]
    text = original(registry, target)
    col = _column(text, "Test", "School Year")
    line = _data_line(text, "Test", 3)
    bad = edit_cell(text, line, col, "2009-2010")
    err = assert_refused(lambda: load(registry, crosswalk, tmp_path, target, bad), target, bad,
                         "school year")
    assert (err.row, err.column) == (line, "School Year")
