"""Tests for the SBAC reader: fixtures shaped like the EdSight exports, bad input, and the real files."""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import sbac
from alliance_study.data.sources.common import SourceReport
from alliance_study.data.sources.keys import town_district_code, year_from_path
from alliance_study.errors import RawDataError

# ---------------------------------------------------------------------------------------------------
# Fixture builders: the exact layout of the CTData raw exports (title lines, blank line, group row,
# label row, CRLF line ends, ="..." codes in the combined files, a trailing blank line).

TITLE = (
    '"Smarter Balanced Assessments, 2015-16"\r\n'
    '"All Districts, ELA and Math, All Grades Combined, All Students"\r\n\r\n'
)
GROUP = (
    ',,,"Level 1Not Met",,"Level 2Approaching",,"Level 3Met",,"Level 4Exceeded",,'
    '"Level 3&4Met or Exceeded",'
)
LABELS = (
    '"Total Numberof Students","Total NumberTested","Smarter BalancedParticipationRate",'
    '"Total Number with Scored Tests","Level 1 Not Met  Count","%","Level 2 Approaching  Count","%",'
    '"Level 3 Met  Count","%","Level 4 Exceeded  Count","%","Level 3&4 Met or Exceeded Count","%"'
)
COMBINED_HEADER = f'"",,,,{GROUP}\r\n"District","District Code","Subject",{LABELS}\r\n'
GRADE_HEADER = f'"",,,,,{GROUP},""\r\n"District","District Code","Grade","Subject",{LABELS},"AverageVSS"\r\n'
STATE_HEADER = f'"",,,{GROUP}\r\n"District","Subject",{LABELS}\r\n'


def levels(n_scored, l34) -> str:
    """Counts and % for levels 1-4 and 3&4 consistent with n_scored and l34 ('*' = suppressed l34)."""
    if n_scored == "*":
        return ",".join(["*"] * 10)
    if l34 == "*":
        return ",".join(["*"] * 10)
    below = n_scored - l34
    l1, l3 = below // 2, l34 // 2
    l2, l4 = below - l1, l34 - l3
    cells = []
    for c in (l1, l2, l3, l4, l34):
        cells += [str(c), f"{100 * c / n_scored:.1f}"]
    return ",".join(cells)


def combined_row(name, code, subject, n_scored, l34, part="98.0") -> str:
    enrolled = "*" if n_scored == "*" else n_scored + 5
    counts = f"{enrolled},{n_scored},{part},{n_scored}"
    return f'"{name}","=""{code}""","{subject}",{counts},{levels(n_scored, l34)}\r\n'


def grade_row(name, code, grade, subject, n_scored, l34, vss) -> str:
    # 2015-16 style: plain codes and grades, no quotes.
    enrolled = "*" if n_scored == "*" else n_scored + 2
    part = "*" if n_scored == "*" else "99.0"
    counts = f"{enrolled},{n_scored},{part},{n_scored}"
    return f"{name},{code},{grade},{subject},{counts},{levels(n_scored, l34)},{vss}\r\n"


def combined_text(rows: list[str]) -> str:
    return TITLE + COMBINED_HEADER + "".join(rows) + "\r\n"


COMBINED_ROWS = [
    combined_row("Bridgeport School District", "0150011", "ELA", 200, 50, "97.5"),
    combined_row("Bridgeport School District", "0150011", "Math", 200, "*", "96.0"),
    combined_row("Hartford School District", "0640011", "ELA", 400, 100, "99.0"),
    combined_row("Hartford School District", "0640011", "Math", 400, 80, "98.5"),
]

GRADE_ROWS = [
    # Hartford ELA: grades 3 and 4 count, grade 11 does not.
    grade_row("Hartford School District", "640011", 3, "ELA", 100, 30, 2400),
    grade_row("Hartford School District", "640011", 4, "ELA", 50, 20, 2460),
    grade_row("Hartford School District", "640011", 11, "ELA", 40, 10, 2550),
    # Hartford Math: grade 3's level 3&4 count suppressed; grade 4's scale score suppressed.
    grade_row("Hartford School District", "640011", 3, "Math", 100, "*", 2410),
    grade_row("Hartford School District", "640011", 4, "Math", 50, 10, "*"),
    # Bridgeport ELA: one grade fully suppressed.
    grade_row("Bridgeport School District", "150011", 3, "ELA", 80, 20, 2390),
    grade_row("Bridgeport School District", "150011", 4, "ELA", "*", "*", "*"),
]


def grade_text(rows: list[str]) -> str:
    return (
        '"Smarter Balanced Assessments, 2015-16",,,\r\n'
        '"All Districts, ELA and Math, All Grades, All Students"\r\n'
        ",,,\r\n" + GRADE_HEADER + "".join(rows)
    )


STATE_TEXT = (
    TITLE.replace("All Districts", "State of Connecticut")
    + STATE_HEADER
    + f'"State of Connecticut","ELA",1000,990,99.0,990,{levels(990, 500)}\r\n'
    + f'"State of Connecticut","Math",1000,980,98.0,980,{levels(980, 400)}\r\n'
    + "\r\n"
)


def report() -> SourceReport:
    return SourceReport(sbac.FAMILY, "fixture")


def raises_at(exc: pytest.ExceptionInfo, file: str, row: int | None, column: str | None) -> None:
    """The error names the file, and the row and column when given."""
    msg = str(exc.value)
    assert f"file {file}" in msg
    if row is not None:
        assert exc.value.row == row, msg
        assert f"row {row}" in msg
    if column is not None:
        assert exc.value.column == column, msg
        assert repr(column) in msg


# ---------------------------------------------------------------------------------------------------
# Per-file readers on fixtures


def test_combined_fixture_values_and_accounting(write_raw, crosswalk):
    path = write_raw("c.csv", combined_text(COMBINED_ROWS))
    rep = report()
    df = sbac.read_combined_file(path, "c.csv", crosswalk, rep)
    assert list(df["district_code"]) == ["0150011", "0150011", "0640011", "0640011"]
    assert list(df["subject"]) == ["ela", "math", "ela", "math"]
    hartford_ela = df.iloc[2]
    assert hartford_ela["n_scored"] == 400
    assert hartford_ela["l34_pct"] == 25.0
    assert hartford_ela["participation"] == 99.0
    assert math.isnan(df.iloc[1]["l34_pct"])  # Bridgeport math suppressed
    assert rep.rows_read == 5 and rep.rows_kept == 4 and rep.dropped == {sbac.DROP_BLANK: 1}
    # Bridgeport math: 10 suppressed cells (5 counts + 5 %), one per level column.
    assert rep.suppressed["Level 3&4Met or Exceeded | %"] == 1
    assert sum(rep.suppressed.values()) == 10


def test_grade_fixture_and_grades_3_8_pooling(write_raw, crosswalk):
    path = write_raw("g.csv", grade_text(GRADE_ROWS))
    rep = report()
    df = sbac.read_grade_file(path, "g.csv", crosswalk, rep)
    assert rep.rows_read == rep.rows_kept == 7
    assert sorted(set(df["grade"])) == [3, 4, 11]
    s = sbac.grades_3_8_summary(df).set_index(["district_code", "subject"])
    # Hartford ELA: (100*2400 + 50*2460) / 150 = 2420; level 3&4 (30 + 20) / 150; grade 11 excluded.
    assert s.loc[("0640011", "ela"), "vss_g38"] == pytest.approx(2420.0)
    assert s.loc[("0640011", "ela"), "pct_l34_g38"] == pytest.approx(100 * 50 / 150)
    assert s.loc[("0640011", "ela"), "n_g38"] == 150
    # Hartford Math: only grade 3 has a scale score; a suppressed level 3&4 count blanks the %.
    assert s.loc[("0640011", "math"), "vss_g38"] == pytest.approx(2410.0)
    assert math.isnan(s.loc[("0640011", "math"), "pct_l34_g38"])
    assert s.loc[("0640011", "math"), "n_g38"] == 150
    # Bridgeport ELA: grade 4 fully suppressed: the scale score uses grade 3 only, the totals are empty.
    assert s.loc[("0150011", "ela"), "vss_g38"] == pytest.approx(2390.0)
    assert math.isnan(s.loc[("0150011", "ela"), "n_g38"])
    assert math.isnan(s.loc[("0150011", "ela"), "pct_l34_g38"])


def test_state_fixture(write_raw, crosswalk):
    path = write_raw("s.csv", STATE_TEXT)
    rep = report()
    df = sbac.read_state_file(path, "s.csv", crosswalk, rep)
    assert list(df["subject"]) == ["ela", "math"]
    assert df["l34_pct"].tolist() == [50.5, 40.8]
    assert rep.rows_read == 3 and rep.rows_kept == 2


def _fake_registry(tmp_path, files: dict[str, str]) -> Registry:
    entries = []
    for rel, text in files.items():
        p = tmp_path / "raw" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))
        size = p.stat().st_size
        entries.append(RegistryEntry(rel, sbac.FAMILY, sha256_file(p), size, "", "", "yes", "", ""))
    return Registry(entries=entries, raw_dir=tmp_path / "raw")


def test_load_on_fixture_registry(tmp_path, crosswalk):
    stem = "smarter-balanced__2015-16_ela-and-math_all-students"
    reg = _fake_registry(tmp_path, {
        f"{stem}_all-grades-combined.csv": combined_text(COMBINED_ROWS),
        f"{stem}_all-grades.csv": grade_text(GRADE_ROWS),
        f"{stem}_all-grades-combined_ct.csv": STATE_TEXT,
    })
    out = sbac.load(reg, crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "year", *sbac.DISTRICT_COLUMNS]
    assert d["year"].dtype == np.int64 and d["year"].tolist() == [2016, 2016]
    h = d.set_index("district_code").loc["0640011"]
    assert h["sbac_ela_pct_l34"] == 25.0 and h["sbac_math_pct_l34"] == 20.0
    assert h["sbac_ela_n_scored"] == 400 and h["sbac_math_participation"] == 98.5
    assert h["sbac_ela_vss_g38"] == pytest.approx(2420.0)
    assert h["sbac_ela_n_g38"] == 150
    assert out.state["sbac_ela_pct_l34"].tolist() == [50.5]
    assert out.state["year"].tolist() == [2016]
    g = out.extra["sbac_by_grade"]
    assert list(g.columns) == sbac.BY_GRADE_COLUMNS
    row = g[(g["district_code"] == "0640011") & (g["grade"] == 11)].iloc[0]
    got = (row["subject"], row["n_scored"], row["pct_l34"], row["avg_scale_score"])
    assert got == ("ela", 40, 25.0, 2550)
    assert {c.name for c in out.columns} == set(sbac.DISTRICT_COLUMNS)
    for r in out.reports:
        r.check()


# ---------------------------------------------------------------------------------------------------
# Bad input: each error names the file, the line and the column.

# Line numbers in combined_text: 3 title lines, group row (4), header (5), data from line 6.
HEADER_LINE = 5


def test_renamed_column_raises(write_raw, crosswalk):
    text = combined_text(COMBINED_ROWS).replace('"Total Number with Scored Tests"', '"Number Scored"')
    path = write_raw("bad.csv", text)
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", HEADER_LINE, "Number Scored")


def test_missing_column_raises(write_raw, crosswalk):
    # The participation column is gone from the group row, the label row and every data row.
    header = COMBINED_HEADER.replace('"",,,,', '"",,,', 1).replace('"Smarter BalancedParticipationRate",', "")
    rows = [r.replace(f",{part},", ",", 1) for r, part in zip(COMBINED_ROWS, ["97.5", "96.0", "99.0", "98.5"],
                                                                strict=True)]
    path = write_raw("bad.csv", TITLE + header + "".join(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", HEADER_LINE, "participation")


def test_non_numeric_rate_raises(write_raw, crosswalk):
    rows = list(COMBINED_ROWS)
    rows[2] = rows[2].replace(",99.0,", ",ninety,")
    path = write_raw("bad.csv", combined_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 8, "Smarter BalancedParticipationRate")
    assert "ninety" in str(exc.value)


def test_rate_above_100_raises(write_raw, crosswalk):
    rows = list(COMBINED_ROWS)
    rows[3] = rows[3].replace(",98.5,", ",108.5,")
    path = write_raw("bad.csv", combined_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 9, "Smarter BalancedParticipationRate")


def test_pct_disagreeing_with_count_raises(write_raw, crosswalk):
    rows = list(COMBINED_ROWS)
    rows[2] = rows[2].replace(",100,25.0\r\n", ",100,35.0\r\n")
    path = write_raw("bad.csv", combined_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 8, "Level 3&4Met or Exceeded | %")


def test_duplicate_district_raises(write_raw, crosswalk):
    rows = [*COMBINED_ROWS, COMBINED_ROWS[2]]
    path = write_raw("bad.csv", combined_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 10, "district_code")
    assert "duplicate" in str(exc.value)


def test_unknown_district_code_raises(write_raw, crosswalk):
    rows = [*COMBINED_ROWS, combined_row("Atlantis School District", "1990011", "ELA", 50, 10)]
    path = write_raw("bad.csv", combined_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 10, "District Code")
    assert "1990011" in str(exc.value)


def test_unknown_state_name_raises(write_raw, crosswalk):
    path = write_raw("bad.csv", STATE_TEXT.replace('"State of Connecticut","Math"', '"Atlantis","Math"'))
    with pytest.raises(RawDataError) as exc:
        sbac.read_state_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 7, "District")


def test_bad_grade_raises(write_raw, crosswalk):
    rows = [*GRADE_ROWS, grade_row("Hartford School District", "640011", 12, "ELA", 10, 5, 2500)]
    path = write_raw("bad.csv", grade_text(rows))
    with pytest.raises(RawDataError) as exc:
        sbac.read_grade_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 13, "Grade")


def test_header_only_file_raises(write_raw, crosswalk):
    path = write_raw("bad.csv", TITLE + COMBINED_HEADER)
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", HEADER_LINE, None)
    assert "no data rows" in str(exc.value)


def test_file_cut_mid_row_raises(write_raw, crosswalk):
    text = combined_text(COMBINED_ROWS).rstrip("\r\n")
    text = text[: text.rindex(",98.5,") + 6]  # last row ends after the participation rate
    path = write_raw("bad.csv", text)
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 9, "Total Number with Scored Tests")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_non_utf8_raises(write_raw, crosswalk, encoding):
    rows = [*COMBINED_ROWS, combined_row("Norwalk Académie District", "1030011", "ELA", 50, 10)]
    path = write_raw("bad.csv", combined_text(rows), encoding=encoding)
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "bad.csv", crosswalk, report())
    raises_at(exc, "bad.csv", 10 if encoding == "latin-1" else 1, None)
    assert "UTF-8" in str(exc.value)


# ---------------------------------------------------------------------------------------------------
# Real data

YEARS = [2015, 2016, 2017, 2018, 2019]
#: Years from the edbot317 all-grades-combined exports (no by-grade or state file).
EDBOT_YEARS = [2022, 2023, 2024, 2025]


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return sbac.load(registry, crosswalk)


@pytest.fixture(scope="module")
def original_alliance(registry) -> list[str]:
    entry = registry.files("designations")[0]
    with open(registry.verified_path(entry), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    first = [r for r in rows if r["first_fiscal_year_designated"] == "2013"]
    codes = sorted(town_district_code(int(r["town_code"])) for r in first)
    assert len(codes) == 30
    return codes


@pytest.mark.realdata
def test_real_row_accounting(real):
    assert len(real.reports) == 19
    for r in real.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values())
        assert set(r.dropped) <= {sbac.DROP_BLANK}
        assert r.dropped[sbac.DROP_BLANK] <= 1  # only the trailing blank line


@pytest.mark.realdata
def test_real_district_counts_match_raw_rows(real):
    d = real.district
    assert sorted(d["year"].unique()) == YEARS + EDBOT_YEARS
    assert d.groupby("year").size().to_dict() == {2015: 196, 2016: 189, 2017: 190, 2018: 192, 2019: 192,
                                                  2022: 192, 2023: 192, 2024: 192, 2025: 191}
    for r in real.reports:
        year = year_from_path(r.file)
        if r.file.endswith(sbac.KIND_COMBINED) or sbac._kind(r.file) == sbac.KIND_EDBOT:
            # Two subject rows per district; kept rows = raw data rows minus the blank line.
            assert r.rows_kept == 2 * (d["year"] == year).sum()
    assert d["district_code"].str.fullmatch(r"\d{7}").all()
    assert not d.duplicated(["district_code", "year"]).any()


@pytest.mark.realdata
def test_real_original_alliance_districts_every_year(real, original_alliance):
    d = real.district
    for year in YEARS + EDBOT_YEARS:
        present = set(d.loc[d["year"] == year, "district_code"])
        assert set(original_alliance) <= present, (year, sorted(set(original_alliance) - present))
        sub = d[(d["year"] == year) & d["district_code"].isin(original_alliance)]
        assert sub["sbac_ela_pct_l34"].notna().all()
        if year in YEARS:
            assert sub["sbac_math_vss_g38"].notna().all()
        else:  # The 2022-2025 exports publish no scale score; grades 3-8 come from the combined export.
            assert sub["sbac_math_vss_g38"].isna().all() and sub["sbac_math_pct_l34_g38"].notna().all()


@pytest.mark.realdata
def test_real_hartford_2016_matches_raw(real):
    h = real.district.set_index(["district_code", "year"]).loc[("0640011", 2016)]
    # "Hartford School District","=""0640011""","ELA",9376,9270,98.9,9267,...,2392,25.8 (2015-16 combined)
    assert h["sbac_ela_pct_l34"] == 25.8
    assert h["sbac_ela_n_scored"] == 9267
    assert h["sbac_ela_participation"] == 98.9
    assert h["sbac_math_pct_l34"] == 16.0
    # 2015-16 by grade, ELA grades 3-8: scored 1546, 1631, 1456, 1498, 1607, 1529; level 3&4 377, 363,
    # 416, 401, 400, 435; AverageVSS 2374, 2404, 2448, 2467, 2485, 2507.
    n = [1546, 1631, 1456, 1498, 1607, 1529]
    vss = [2374, 2404, 2448, 2467, 2485, 2507]
    assert h["sbac_ela_n_g38"] == 9267
    assert h["sbac_ela_pct_l34_g38"] == pytest.approx(100 * 2392 / 9267)
    assert h["sbac_ela_vss_g38"] == pytest.approx(sum(a * b for a, b in zip(n, vss, strict=True)) / 9267)


@pytest.mark.realdata
def test_real_bridgeport_values_and_grade_11(real):
    b = real.district.set_index(["district_code", "year"]).loc[("0150011", 2019)]
    # 2018-19 combined: ELA 9330 scored, 27.4%; Math 9303 scored, 15.7%, participation 99.5
    assert (b["sbac_ela_pct_l34"], b["sbac_ela_n_scored"]) == (27.4, 9330)
    assert (b["sbac_math_pct_l34"], b["sbac_math_participation"]) == (15.7, 99.5)
    g = real.extra["sbac_by_grade"]
    # 2014-15 by grade: Bridgeport grade 11 ELA 912 scored, 25.8%, AverageVSS 2509; grade 11 only in 2015.
    g15 = g[(g["district_code"] == "0150011") & (g["year"] == 2015)]
    row = g15[(g15["grade"] == 11) & (g15["subject"] == "ela")]
    assert row[["n_scored", "pct_l34", "avg_scale_score"]].iloc[0].tolist() == [912, 25.8, 2509]
    assert set(g.loc[g["grade"] == 11, "year"]) == {2015}
    b15 = real.district.set_index(["district_code", "year"]).loc[("0150011", 2015)]
    # Grades 3-8 ELA scored 1729+1649+1444+1349+1419+1403 = 8993, level 3&4 369+320+311+354+388+377 = 2119.
    assert b15["sbac_ela_n_g38"] == 8993
    assert b15["sbac_ela_pct_l34_g38"] == pytest.approx(100 * 2119 / 8993)


@pytest.mark.realdata
def test_real_state_matches_district_counts(real):
    d, s = real.district, real.state.set_index("year")
    assert list(s.index) == YEARS
    assert s.loc[2016, "sbac_ela_pct_l34"] == 55.6 and s.loc[2016, "sbac_ela_n_scored"] == 234884
    for year in YEARS:
        for subj in ("ela", "math"):
            sub = d[d["year"] == year].dropna(subset=[f"sbac_{subj}_pct_l34", f"sbac_{subj}_n_scored"])
            n = sub[f"sbac_{subj}_n_scored"]
            pct = (sub[f"sbac_{subj}_pct_l34"] * n).sum() / n.sum()
            assert pct == pytest.approx(s.loc[year, f"sbac_{subj}_pct_l34"], abs=0.6), (year, subj)
            # Scored tests: districts (suppressed ones left out) add up to within 0.5% of the state.
            assert n.sum() == pytest.approx(s.loc[year, f"sbac_{subj}_n_scored"], rel=0.005)


@pytest.mark.realdata
def test_real_output_types(real):
    d = real.district
    assert d["year"].dtype == np.int64
    for c in sbac.DISTRICT_COLUMNS:
        assert d[c].dtype == np.float64
    pct = d[[c for c in sbac.DISTRICT_COLUMNS if "pct" in c or "participation" in c]]
    assert pct.min().min() >= 0 and pct.max().max() <= 100
    g = real.extra["sbac_by_grade"]
    assert g.groupby("year")["grade"].agg(lambda s: sorted(set(s))).to_dict()[2016] == [3, 4, 5, 6, 7, 8]
    assert isinstance(g, pd.DataFrame)
    assert not g.duplicated(["district_code", "year", "grade", "subject"]).any()


@pytest.mark.realdata
def test_real_2025_values_and_region_20(real):
    d = real.district.set_index(["district_code", "year"])
    # sbac-2024-25.csv: "Regional School District 20","=""2200012""","ELA",673,669,99.4,669,83,12.4,118,17.6,
    # 269,40.2,199,29...; Litchfield (0740011) and Region 6 (2060012) are no longer listed.
    r20 = d.loc[("2200012", 2025)]
    assert r20["sbac_ela_n_scored"] == 669 and r20["sbac_ela_participation"] == 99.4
    assert ("0740011", 2025) not in d.index and ("2060012", 2025) not in d.index
    # The Math row (blank name and code) belongs to the district above it: Woodstock 2024-25 Math
    # ,,"Math",520,506,97.3,506,129,25.5,174,34.4,122,24.1,81,16.0,203,40.1
    w = d.loc[("1690011", 2025)]
    assert (w["sbac_math_n_scored"], w["sbac_math_pct_l34"]) == (506, 40.1)
    assert w["sbac_math_pct_l34_g38"] == pytest.approx(100 * 203 / 506)
    assert w["sbac_math_n_g38"] == 506


# ---------------------------------------------------------------------------------------------------
# The 2021-22 to 2024-25 exports: plain "Count" labels, Math rows with blank name and code.

EDBOT_TITLE = (
    '"Smarter Balanced Assessments, 2022-23"\n'
    '"All Districts, ELA and Math, All Grades Combined, All Students"\n\n'
)
EDBOT_HEADER = (
    f'"",,,,{GROUP}\n'
    '"District","District Code","Subject","Total Number of Students","Total Number Tested",'
    '"Smarter Balanced Participation Rate","Total Number with Scored Tests","Count","%","Count","%",'
    '"Count","%","Count","%","Count","%"\n'
)


def edbot_rows(name, code, n_ela, l34_ela, n_math, l34_math) -> str:
    ela = f'"{name}","=""{code}""","ELA",{n_ela + 5},{n_ela},98.0,{n_ela},{levels(n_ela, l34_ela)}\n'
    math_ = f',,"Math",{n_math + 5},{n_math},98.0,{n_math},{levels(n_math, l34_math)}\n'
    return ela + math_


def test_edbot_layout_counts_and_carried_names(tmp_path, crosswalk):
    text = (EDBOT_TITLE + EDBOT_HEADER + edbot_rows("Bridgeport School District", "0150011", 200, 50, 190, 40)
            + edbot_rows("Hartford School District", "0640011", 400, 100, 380, "*") + "\n")
    path = tmp_path / "sbac-2022-23.csv"
    path.write_text(text)
    r = report()
    df = sbac.read_combined_file(path, "sbac-2022-23.csv", crosswalk, r)
    assert df[["district_code", "subject"]].values.tolist() == [
        ["0150011", "ela"], ["0150011", "math"], ["0640011", "ela"], ["0640011", "math"]]
    assert df["l34_n"].tolist()[:3] == [50, 40, 100] and np.isnan(df["l34_n"].iloc[3])
    assert r.suppressed["Level 3&4Met or Exceeded | Count"] == 1
    assert r.rows_read == 5 and r.rows_kept == 4 and r.dropped == {sbac.DROP_BLANK: 1}


def test_edbot_load_fills_grades_3_8_from_combined(tmp_path, crosswalk):
    reg_dir = tmp_path / "raw"
    reg_dir.mkdir()
    rel = "edbot317-source/public-CT-ed-data/data/sbac/raw/all_students/sbac-2022-23.csv"
    (reg_dir / rel).parent.mkdir(parents=True)
    (reg_dir / rel).write_text(EDBOT_TITLE + EDBOT_HEADER
                               + edbot_rows("Bridgeport School District", "0150011", 200, 50, 190, 38) + "\n")
    reg = Registry(entries=[RegistryEntry(rel, "sbac", sha256_file(reg_dir / rel), 0, "", "", "no", "", "")],
                   raw_dir=reg_dir)
    out = sbac.load(reg, crosswalk)
    row = out.district.iloc[0]
    assert row["year"] == 2023
    assert row["sbac_ela_pct_l34_g38"] == pytest.approx(25.0) and row["sbac_math_n_g38"] == 190
    assert np.isnan(row["sbac_ela_vss_g38"])
    assert out.state.empty and out.extra["sbac_by_grade"].empty


@pytest.mark.parametrize("damage, line, column, match", [
    # A Math row with a blank name but a code.
    (lambda t: t.replace(',,"Math"', ',"=""0150011""","Math"', 1), 7, "District", "missing on a row"),
    # The first data row has no name.
    (lambda t: t.replace('"Bridgeport School District","=""0150011""","ELA"', ',,"ELA"'), 6, "District",
     "not the Math row under"),
    # A renamed count label.
    (lambda t: t.replace('"Count","%","Count"', '"Cnt","%","Count"', 1), 5, "Level 1Not Met | Cnt",
     "unexpected column"),
])
def test_edbot_bad_input(tmp_path, crosswalk, damage, line, column, match):
    text = EDBOT_TITLE + EDBOT_HEADER + edbot_rows("Bridgeport School District", "0150011", 200, 50, 190, 40)
    path = tmp_path / "sbac-2022-23.csv"
    path.write_text(damage(text) + "\n")
    with pytest.raises(RawDataError) as exc:
        sbac.read_combined_file(path, "sbac-2022-23.csv", crosswalk, report())
    raises_at(exc, "sbac-2022-23.csv", line, column)
    assert match in str(exc.value)
