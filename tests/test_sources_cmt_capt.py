"""Tests for the CMT/CAPT reader: school fixtures, N-weighted aggregation, bad input, the real files."""

from __future__ import annotations

import csv
import math
from collections import defaultdict

import numpy as np
import pytest

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import cmt_capt
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

CMT_HEADER = (
    "Test,Grade,District ID,District Name,School ID,School Name,School Year,Number of Students Tested,"
    "Standard CMT Score Summary Average Scale Score,Standard CMT Score Summary Percent at above Goal level,"
    "Standard CMT Score Summary Percent at above Proficient level\n"
)
CMT_ROWS = [
    # Hartford (CEDaR 64) grade 3 math: two schools with results, one suppressed.
    "Mathematics,3,64,Hartford School District,1,School A,2010-11,100,250,40,70\n",
    "Mathematics,3,64,Hartford School District,2,School B,2010-11,50,220,10,40\n",
    "Mathematics,3,64,Hartford School District,3,School C,2010-11,**,**,**,**\n",
    "Mathematics,8,64,Hartford School District,4,School D,2010-11,150,260,50,80\n",
    "Reading,3,64,Hartford School District,1,School A,2010-11,100,240,30,60\n",
    "Writing,3,64,Hartford School District,1,School A,2010-11,100,245,35,65\n",
    "Science,5,15,Bridgeport School District,7,School E,2009-10,60,230.5,20.5,50.5\n",
    # CEDaR 277 has no code of its own: mapped by name (Highville Charter School, 2860013).
    "Mathematics,3,277,Highville Mustard Seed Charter School District,1,Highville,2005-06,20,276.3,90,95\n",
]

CAPT_HEADER = (
    "Test,District ID,School ID,District Name,School Name,School Year,Number of Students Tested,"
    "Standard CAPT Score Summary Average Scale Score,Standard CAPT Score Summary Percent at/above goal level,"
    "Standard CAPT Score Summary Percent at/above proficient level,Standard CAPT Results by Below Basic,"
    "Standard CAPT Results by Basic,Standard CAPT Results by Proficient,Standard CAPT Results by Goal,"
    "Standard CAPT Results by Advanced,Assessment Participation Standard CAPT ,"
    "Assessment Participation Skills Checklist ,Assessment Participation Modified Assessment,"
    "Assessment Participation ELL Exempt ,Assessment Participation No Valid Score ,"
    "Assessment Participation Total Participation ,Assessment Participation Absent \n"
)
CAPT_TAIL = ",10,20,30,30,10,90,0,5,0,1,96,4"
CAPT_ROWS = [
    f"Mathematics,64,61,Hartford School District,High A,2010-11,30,200,10,50{CAPT_TAIL}\n",
    f"Mathematics,64,62,Hartford School District,High B,2010-11,90,240,30,70{CAPT_TAIL}\n",
    f"Reading,64,61,Hartford School District,High A,2010-11,30,210,20,60{CAPT_TAIL}\n",
    "Reading,244,91,Area Cooperative Educational Services,Whitney,2010-11," + ",".join(["**"] * 16) + "\n",
]



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts: the whole-file year coverage is the corruption suite's to test."""
    monkeypatch.setattr(cmt_capt, "check_year_coverage", lambda *args, **kwargs: None)

def report() -> SourceReport:
    return SourceReport(cmt_capt.FAMILY, "fixture")


def raises_at(exc: pytest.ExceptionInfo, file: str, row: int | None, column: str | None) -> None:
    msg = str(exc.value)
    assert f"file {file}" in msg
    if row is not None:
        assert exc.value.row == row, msg
    if column is not None:
        assert exc.value.column == column, msg
        assert repr(column) in msg


def test_cmt_fixture_school_rows_and_accounting(write_raw, crosswalk):
    path = write_raw("cmt.csv", CMT_HEADER + "".join(CMT_ROWS))
    rep = report()
    df = cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, rep)
    assert list(df.columns) == cmt_capt.SCHOOL_COLUMNS
    assert rep.rows_read == rep.rows_kept == 8 and not rep.dropped
    assert rep.suppressed["Number of Students Tested"] == 1
    assert set(df["district_code"]) == {"0640011", "0150011", "2860013"}
    assert sorted(set(df["year"])) == [2006, 2010, 2011]
    assert set(df["test"]) == {"CMT"}


def test_n_weighted_aggregation_hand_computed(write_raw, crosswalk):
    path = write_raw("cmt.csv", CMT_HEADER + "".join(CMT_ROWS))
    schools = cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    g = cmt_capt.aggregate_schools(schools, ["district_code", "year", "grade", "subject"])
    row = g[(g["district_code"] == "0640011") & (g["grade"] == 3) & (g["subject"] == "math")].iloc[0]
    # Schools A (100 tested) and B (50); C is suppressed and left out.
    assert row["n_tested"] == 150
    assert row["scale_score"] == pytest.approx((100 * 250 + 50 * 220) / 150)  # 240
    assert row["pct_goal"] == pytest.approx((100 * 40 + 50 * 10) / 150)  # 30
    assert row["pct_prof"] == pytest.approx((100 * 70 + 50 * 40) / 150)  # 60


def test_all_suppressed_group_is_nan(write_raw, crosswalk):
    rows = [CMT_ROWS[2]]
    path = write_raw("cmt.csv", CMT_HEADER + "".join(rows))
    schools = cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    g = cmt_capt.aggregate_schools(schools, ["district_code", "year"])
    assert len(g) == 1 and g[["n_tested", *cmt_capt.MEASURES]].isna().all(axis=None)


def _fake_registry(tmp_path, files: dict[str, str]) -> Registry:
    entries = []
    for rel, text in files.items():
        p = tmp_path / "raw" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))
        size = p.stat().st_size
        entries.append(RegistryEntry(rel, cmt_capt.FAMILY, sha256_file(p), size, "", "", "yes", "", ""))
    return Registry(entries=entries, raw_dir=tmp_path / "raw")


def test_load_pools_grades_3_and_8(tmp_path, crosswalk):
    reg = _fake_registry(tmp_path, {
        "sgaul/testscores/cmt.csv": CMT_HEADER + "".join(CMT_ROWS),
        "sgaul/testscores/capt.csv": CAPT_HEADER + "".join(CAPT_ROWS),
    })
    out = cmt_capt.load(reg, crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "year", *cmt_capt.DISTRICT_COLUMNS]
    assert d["year"].dtype == np.int64
    # Bridgeport 2010 has science only: no panel row (it stays in the long table). ACES 2011 is all
    # suppressed but keeps its row (with empty measures).
    keys = d[["district_code", "year"]].values.tolist()
    assert keys == [["0640011", 2011], ["2440014", 2011], ["2860013", 2006]]
    h = d.set_index(["district_code", "year"]).loc[("0640011", 2011)]
    # Grades 3 and 8 math pooled: A 100 @ 250, B 50 @ 220, D (grade 8) 150 @ 260.
    assert h["cmt_math_n"] == 300
    assert h["cmt_math_scale"] == pytest.approx((100 * 250 + 50 * 220 + 150 * 260) / 300)  # 250
    assert h["cmt_math_pct_goal"] == pytest.approx((100 * 40 + 50 * 10 + 150 * 50) / 300)  # 40
    assert h["cmt_math_pct_prof"] == pytest.approx((100 * 70 + 50 * 40 + 150 * 80) / 300)  # 70
    assert h["cmt_reading_scale"] == 240 and h["cmt_reading_n"] == 100
    # CAPT math: 30 @ 200 and 90 @ 240 -> 230.
    assert h["capt_math_scale"] == pytest.approx((30 * 200 + 90 * 240) / 120)
    assert h["capt_math_pct_goal"] == pytest.approx((30 * 10 + 90 * 30) / 120)
    assert h["capt_reading_n"] == 30
    assert math.isnan(d.set_index("district_code").loc["2440014", "capt_reading_scale"])
    g = out.extra["cmt_capt_by_grade"]
    assert list(g.columns) == cmt_capt.BY_GRADE_COLUMNS
    writing = g[(g["subject"] == "writing")].iloc[0]
    assert (writing["test"], writing["grade"], writing["scale_score"]) == ("CMT", 3, 245)
    science = g[(g["subject"] == "science")].iloc[0]
    assert (science["district_code"], science["year"], science["grade"]) == ("0150011", 2010, 5)
    assert set(g.loc[g["test"] == "CAPT", "grade"]) == {10}
    assert {c.name for c in out.columns} == set(cmt_capt.DISTRICT_COLUMNS)


# ---------------------------------------------------------------------------------------------------
# Bad input


def _cmt(rows: list[str], header: str = CMT_HEADER) -> str:
    return header + "".join(rows)


def test_renamed_column_raises(write_raw, crosswalk):
    header = CMT_HEADER.replace("Number of Students Tested", "Students Tested")
    path = write_raw("cmt.csv", _cmt(CMT_ROWS, header))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 1, "Students Tested")


def test_missing_column_raises(write_raw, crosswalk):
    header = CMT_HEADER.replace(",Standard CMT Score Summary Percent at above Proficient level", "")
    rows = [r.rsplit(",", 1)[0] + "\n" for r in CMT_ROWS]
    path = write_raw("cmt.csv", _cmt(rows, header))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 1, "pct_prof")


def test_non_numeric_rate_raises(write_raw, crosswalk):
    rows = list(CMT_ROWS)
    rows[1] = rows[1].replace(",220,10,40", ",220,ten,40")
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 3, "Standard CMT Score Summary Percent at above Goal level")


def test_rate_above_100_raises(write_raw, crosswalk):
    rows = list(CMT_ROWS)
    rows[3] = rows[3].replace(",260,50,80", ",260,50,180")
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 5, "Standard CMT Score Summary Percent at above Proficient level")


def test_goal_above_proficient_raises(write_raw, crosswalk):
    rows = list(CMT_ROWS)
    rows[0] = rows[0].replace(",250,40,70", ",250,80,70")
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 2, "Standard CMT Score Summary Percent at above Goal level")


def test_negative_count_raises(write_raw, crosswalk):
    rows = list(CMT_ROWS)
    rows[0] = rows[0].replace(",2010-11,100,", ",2010-11,-100,")
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 2, "Number of Students Tested")


def test_duplicate_school_row_raises(write_raw, crosswalk):
    rows = [*CMT_ROWS, CMT_ROWS[1]]
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 10, "district_code")


def test_unknown_cedar_id_raises(write_raw, crosswalk):
    rows = [*CMT_ROWS, "Mathematics,3,199,Atlantis School District,1,Atlantis School,2010-11,30,250,40,70\n"]
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 10, "District ID")
    assert "199" in str(exc.value)


def test_unknown_name_for_unnumbered_district_raises(write_raw, crosswalk):
    rows = [*CMT_ROWS[:-1], CMT_ROWS[-1].replace("Highville Mustard Seed", "Lowville")]
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 9, "District Name")


def test_unknown_grade_raises(write_raw, crosswalk):
    rows = [*CMT_ROWS, "Mathematics,10,64,Hartford School District,9,School X,2010-11,30,250,40,70\n"]
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 10, "Grade")


def test_bad_school_year_raises(write_raw, crosswalk):
    rows = list(CMT_ROWS)
    rows[4] = rows[4].replace("2010-11", "2010-12")
    path = write_raw("cmt.csv", _cmt(rows))
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 6, None)


def test_header_only_raises(write_raw, crosswalk):
    path = write_raw("capt.csv", CAPT_HEADER)
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "capt.csv", "CAPT", crosswalk, report())
    raises_at(exc, "capt.csv", 1, None)
    assert "no data rows" in str(exc.value)


def test_cut_mid_row_raises(write_raw, crosswalk):
    text = _cmt(CMT_ROWS[:4]) + "Mathematics,8,64,Hartford School District,5,School E,2010-11,120,"
    path = write_raw("cmt.csv", text)
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 6, "Standard CMT Score Summary Average Scale Score")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_non_utf8_raises(write_raw, crosswalk, encoding):
    rows = [*CMT_ROWS, "Mathematics,3,64,Hartford School District,9,École,2010-11,30,250,40,70\n"]
    path = write_raw("cmt.csv", _cmt(rows), encoding=encoding)
    with pytest.raises(RawDataError) as exc:
        cmt_capt.read_test_file(path, "cmt.csv", "CMT", crosswalk, report())
    raises_at(exc, "cmt.csv", 10 if encoding == "latin-1" else 1, None)


# ---------------------------------------------------------------------------------------------------
# Real data


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return cmt_capt.load(registry, crosswalk)


@pytest.fixture(scope="module")
def raw_rows(registry):
    """The raw files read independently with the csv module: {test: list of dict rows}."""
    out = {}
    for entry in registry.files(cmt_capt.FAMILY):
        with open(registry.verified_path(entry), newline="", encoding="utf-8") as handle:
            out[cmt_capt.TEST_BY_FILE[entry.path.rsplit("/", 1)[1]]] = list(csv.DictReader(handle))
    return out


@pytest.mark.realdata
def test_real_row_accounting(real):
    by_file = {r.file: r for r in real.reports}
    assert set(by_file) == {"sgaul/testscores/cmt.csv", "sgaul/testscores/capt.csv"}
    for r in real.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values())
    cmt, capt = by_file["sgaul/testscores/cmt.csv"], by_file["sgaul/testscores/capt.csv"]
    assert (cmt.rows_read, cmt.rows_kept, dict(cmt.dropped)) == (18598, 18598, {})
    assert (capt.rows_read, capt.rows_kept, dict(capt.dropped)) == (4000, 4000, {})
    assert cmt.suppressed["Number of Students Tested"] == 428
    assert capt.suppressed["Number of Students Tested"] == 256


@pytest.mark.realdata
def test_real_district_counts_per_year(real, raw_rows):
    expected: dict[int, set[int]] = defaultdict(set)
    for test, rows in raw_rows.items():
        for r in rows:
            if r["Test"] in ("Mathematics", "Reading"):
                if test == "CAPT" or r["Grade"] in ("3", "8"):
                    expected[int(r["School Year"][:4]) + 1].add(int(r["District ID"]))
    # A district-year enters the panel table when it has a math or reading row (grades 3/8 or CAPT).
    counts = real.district.groupby("year").size().to_dict()
    assert counts == {y: len(ids) for y, ids in sorted(expected.items())}
    assert counts == {2006: 176, 2007: 190, 2008: 190, 2009: 191, 2010: 191, 2011: 193}
    assert not real.district.duplicated(["district_code", "year"]).any()


@pytest.mark.realdata
def test_real_ansonia_2011_hand_computed(real):
    a = real.district.set_index(["district_code", "year"]).loc[("0020011", 2011)]
    # cmt.csv 2010-11 math: Mead (gr 3) 97 @ 251.6, Prendergast (gr 3) 77 @ 241.5, Ansonia Middle (gr 8)
    # 177 @ 253.5; % goal 49.5, 46.8, 58.8.
    assert a["cmt_math_n"] == 351
    assert a["cmt_math_scale"] == pytest.approx((97 * 251.6 + 77 * 241.5 + 177 * 253.5) / 351)
    assert a["cmt_math_pct_goal"] == pytest.approx((97 * 49.5 + 77 * 46.8 + 177 * 58.8) / 351)
    # capt.csv 2010-11 math: Ansonia High School 187 tested, 225.4, 19.3% goal, 56.1% proficient.
    assert (a["capt_math_n"], a["capt_math_scale"], a["capt_math_pct_goal"], a["capt_math_pct_prof"]) == (
        187, 225.4, 19.3, 56.1,
    )


@pytest.mark.realdata
def test_real_hartford_bridgeport_match_independent_sums(real, raw_rows):
    d = real.district.set_index(["district_code", "year"])
    for cedar, code in ((64, "0640011"), (15, "0150011")):
        for year in range(2007, 2012):
            label = f"{year - 1}-{str(year)[2:]}"
            cases = (("cmt", "math", "Mathematics"), ("capt", "reading", "Reading"))
            for test, subject, raw_subject in cases:
                rows = [r for r in raw_rows[test.upper()] if r["District ID"] == str(cedar)
                        and r["School Year"] == label and r["Test"] == raw_subject
                        and r["Number of Students Tested"] != "**"
                        and (test == "capt" or r["Grade"] in ("3", "8"))]
                n = [float(r["Number of Students Tested"]) for r in rows]
                key = "Standard CMT Score Summary Average Scale Score" if test == "cmt" else \
                    "Standard CAPT Score Summary Average Scale Score"
                scale = sum(w * float(r[key]) for w, r in zip(n, rows, strict=True)) / sum(n)
                assert d.loc[(code, year), f"{test}_{subject}_n"] == sum(n)
                assert d.loc[(code, year), f"{test}_{subject}_scale"] == pytest.approx(scale)


@pytest.mark.realdata
def test_real_highville_one_charter_across_its_rename(real):
    d = real.district.set_index(["district_code", "year"])
    # cmt.csv: "Mathematics,3,277,Highville Mustard Seed Charter School District,1,...,2005-06,20,276.3,90,95"
    # (grade 8 suppressed that year); from 2007-08 the same school is CEDaR 286.
    assert (d.loc[("2860013", 2006), "cmt_math_n"], d.loc[("2860013", 2006), "cmt_math_scale"]) == (20, 276.3)
    years = real.district.loc[real.district["district_code"] == "2860013", "year"]
    assert sorted(years) == list(range(2006, 2012))


@pytest.mark.realdata
def test_real_years_tests_and_types(real):
    d = real.district
    assert d["year"].dtype == np.int64
    for c in cmt_capt.DISTRICT_COLUMNS:
        assert d[c].dtype == np.float64
    assert d.loc[d["capt_math_scale"].notna(), "year"].min() == 2007
    assert d.loc[d["cmt_math_scale"].notna(), "year"].min() == 2006
    g = real.extra["cmt_capt_by_grade"]
    grades = g.groupby("test")["grade"].agg(lambda s: sorted(set(s))).to_dict()
    assert grades == {"CAPT": [10], "CMT": [3, 5, 8]}
    assert set(g["subject"]) == {"math", "reading", "writing", "science"}
    pct = d[[c for c in cmt_capt.DISTRICT_COLUMNS if "pct" in c]]
    assert pct.min().min() >= 0 and pct.max().max() <= 100
