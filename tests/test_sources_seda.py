"""Tests for the SEDA reader: regional repeats, code mapping, bad input, and the real extract."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from alliance_study.data.sources import seda
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

HEADER = (
    "sedaadmin,district,fiscal_year,subcat,subgroup,gradecenter,tot_asmts,gcs_mn_avg_eb,gcs_mn_avg_eb_se,"
    "gcs_mn_avg_ol,gcs_mn_avg_ol_se,grade_levels_vs_national,grade_levels_vs_national_ol,gcs_mn_avg_mth_eb,"
    "gcs_mn_avg_mth_eb_se,gcs_mn_avg_rla_eb,gcs_mn_avg_rla_eb_se,grade_levels_vs_national_mth,"
    "grade_levels_vs_national_rla,town_code,town,town_match\n"
)



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts: the whole-file year coverage is the corruption suite's to test."""
    monkeypatch.setattr(seda, "check_year_coverage", lambda *args, **kwargs: None)

def row(sid, name, year, n, eb, town_code="", town="", match="", mth="3.1", rla="3.3", se="0.05") -> str:
    """A data row; grade levels = eb - 5.5 as in the real file."""
    gl = f"{float(eb) - 5.5!r}"
    mth_gl = "" if mth == "" else f"{float(mth) - 5.5!r}"
    rla_gl = "" if rla == "" else f"{float(rla) - 5.5!r}"
    mth_se = "" if mth == "" else "0.06"
    rla_se = "" if rla == "" else "0.07"
    return (
        f"{sid},{name},{year},all,all,5.5,{n},{eb},{se},{eb},0.1,{gl},{gl},{mth},{mth_se},{rla},{rla_se},"
        f"{mth_gl},{rla_gl},{town_code},{town},{match}\n"
    )


ROWS = [
    row("901920", "Hartford School District", 2009, 19398, "3.25", 64, "Hartford", "local district"),
    row("901920", "Hartford School District", 2010, 19110, "3.5", 64, "Hartford", "local district", mth=""),
    row("903538", "Regional School District 16", 2018, 2019, "7.0", 6, "Beacon Falls", "regional district"),
    row("900024", "Amistad Academy District", 2018, 800, "5.75"),
    row("903538", "Regional School District 16", 2018, 2019, "7.0", 115, "Prospect", "regional district"),
    row("905374", "Regional School District 20", 2018, 1375, "6.5"),
]


def report() -> SourceReport:
    return SourceReport(seda.FAMILY, "fixture")


def raises_at(exc: pytest.ExceptionInfo, file: str, row_: int | None, column: str | None) -> None:
    msg = str(exc.value)
    assert f"file {file}" in msg
    if row_ is not None:
        assert exc.value.row == row_, msg
    if column is not None:
        assert exc.value.column == column, msg
        assert repr(column) in msg


def read(write_raw, crosswalk, rows, header=HEADER, rep=None, encoding="utf-8"):
    path = write_raw("seda.csv", header + "".join(rows), encoding=encoding)
    return seda.read_seda_file(path, "seda.csv", crosswalk, rep or report())


def test_fixture_mapping_dedupe_and_accounting(write_raw, crosswalk):
    rep = report()
    df = read(write_raw, crosswalk, ROWS, rep=rep)
    assert list(df.columns) == ["district_code", "year", *seda.DISTRICT_COLUMNS]
    assert df[["district_code", "year"]].values.tolist() == [
        ["0640011", 2009], ["0640011", 2010], ["2160012", 2018], ["2790013", 2018],
    ]
    assert rep.rows_read == 6 and rep.rows_kept == 4
    assert rep.dropped == {seda.DROP_REPEAT: 1, seda.UNMAPPED_SEDAADMIN["905374"]: 1}
    assert rep.suppressed == {"gcs_mn_avg_mth_eb": 1, "gcs_mn_avg_mth_eb_se": 1}
    h = df.iloc[0]
    assert (h["seda_gcs_eb"], h["seda_grade_levels"], h["seda_tot_asmts"], h["seda_id"]) == (
        3.25, -2.25, 19398, "901920",
    )
    assert (h["seda_math_eb"], h["seda_rla_eb"], h["seda_gcs_eb_se"]) == (3.1, 3.3, 0.05)
    # The unshrunk (OLS) mean and its sampling SE are kept beside the EB ones (issue 12).
    assert (h["seda_gcs_ol"], h["seda_gcs_ol_se"]) == (3.25, 0.1)
    assert math.isnan(df.iloc[1]["seda_math_eb"]) and math.isnan(df.iloc[1]["seda_math_eb_se"])
    assert df["year"].dtype == np.int64 and df["seda_tot_asmts"].dtype == np.float64


def test_renamed_column_raises(write_raw, crosswalk):
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, ROWS, header=HEADER.replace("gcs_mn_avg_eb_se,", "gcs_eb_stderr,"))
    raises_at(exc, "seda.csv", 1, "gcs_eb_stderr")


def test_missing_column_raises(write_raw, crosswalk):
    header = HEADER.replace(",tot_asmts", "")
    counts = [19398, 19110, 2019, 800, 2019, 1375]
    rows = [r.replace(f",{n},", ",", 1) for r, n in zip(ROWS, counts, strict=True)]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows, header=header)
    raises_at(exc, "seda.csv", 1, "tot_asmts")


def test_non_numeric_value_raises(write_raw, crosswalk):
    rows = list(ROWS)
    rows[3] = rows[3].replace(",5.75,", ",high,", 1)
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 5, "gcs_mn_avg_eb")


def test_negative_standard_error_raises(write_raw, crosswalk):
    rows = list(ROWS)
    rows[0] = row("901920", "Hartford School District", 2009, 19398, "3.25", 64, "Hartford", "local district",
                  se="-0.05")
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 2, "gcs_mn_avg_eb_se")


def test_grade_levels_inconsistent_raises(write_raw, crosswalk):
    rows = list(ROWS)
    rows[3] = rows[3].replace(",0.25,0.25,", ",1.25,0.25,")
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 5, "grade_levels_vs_national")


def test_regional_repeats_that_differ_raise(write_raw, crosswalk):
    rows = list(ROWS)
    rows[4] = row("903538", "Regional School District 16", 2018, 2020, "7.0", 115, "Prospect",
                  "regional district")
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 6, "tot_asmts")


def test_duplicate_district_year_raises(write_raw, crosswalk):
    # A second SEDA id claiming Hartford 2009.
    extra = row("999999", "Hartford School District", 2009, 100, "4.0", 64, "Hartford", "local district")
    rows = [*ROWS, extra]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "district_code")
    assert "duplicate" in str(exc.value)


def test_repeated_local_row_raises(write_raw, crosswalk):
    rows = [*ROWS, ROWS[0]]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "sedaadmin")


def test_unknown_name_raises(write_raw, crosswalk):
    rows = [*ROWS, row("900999", "Atlantis Charter School District", 2018, 100, "4.0")]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "district")
    assert "Atlantis" in str(exc.value)


def test_town_code_name_mismatch_raises(write_raw, crosswalk):
    extra = row("900450", "Bridgeport School District", 2018, 100, "4.0", 64, "Hartford", "local district")
    rows = [*ROWS, extra]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "town_code")


def test_bad_town_code_raises(write_raw, crosswalk):
    extra = row("900450", "Bridgeport School District", 2018, 100, "4.0", 215, "Nowhere", "local district")
    rows = [*ROWS, extra]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "town_code")


def test_unexpected_year_raises(write_raw, crosswalk):
    extra = row("901920", "Hartford School District", 2014, 100, "4.0", 64, "Hartford", "local district")
    rows = [*ROWS, extra]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "fiscal_year")


def test_subgroup_other_than_all_raises(write_raw, crosswalk):
    rows = [*ROWS, ROWS[0].replace(",all,all,", ",race,blk,")]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows)
    raises_at(exc, "seda.csv", 8, "subcat")


def test_header_only_raises(write_raw, crosswalk):
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, [])
    raises_at(exc, "seda.csv", 1, None)


def test_cut_mid_row_raises(write_raw, crosswalk):
    cut = ROWS[3][: ROWS[3].index(",5.75,") + 1]  # ends right after tot_asmts
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, [*ROWS[:3], cut])
    raises_at(exc, "seda.csv", 5, "gcs_mn_avg_eb")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_non_utf8_raises(write_raw, crosswalk, encoding):
    rows = [*ROWS, row("900999", "Académie District", 2018, 100, "4.0")]
    with pytest.raises(RawDataError) as exc:
        read(write_raw, crosswalk, rows, encoding=encoding)
    raises_at(exc, "seda.csv", 8 if encoding == "latin-1" else 1, None)


# ---------------------------------------------------------------------------------------------------
# Real data


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return seda.load(registry, crosswalk)


@pytest.fixture(scope="module")
def raw(registry):
    entry = registry.files(seda.FAMILY)[0]
    with open(registry.verified_path(entry), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.realdata
def test_real_row_accounting(real, raw):
    (r,) = real.reports
    assert r.rows_read == len(raw) == 2529
    assert r.rows_read == r.rows_kept + sum(r.dropped.values())
    distinct = {(x["sedaadmin"], x["fiscal_year"]) for x in raw}
    assert len(distinct) == 2400
    assert r.dropped[seda.DROP_REPEAT] == len(raw) - len(distinct) == 129
    # Region 20 (Litchfield + Region 6 pooled by SEDA) in each of the 14 years.
    assert r.dropped[seda.UNMAPPED_SEDAADMIN["905374"]] == 14
    assert r.rows_kept == len(real.district) == 2400 - 14


@pytest.mark.realdata
def test_real_distinct_district_years_map_uniquely(real, raw):
    d = real.district
    assert not d.duplicated(["district_code", "year"]).any()
    assert not d.duplicated(["seda_id", "year"]).any()
    # Each SEDA id maps to one CSDE code in every year.
    assert (d.groupby("seda_id")["district_code"].nunique() == 1).all()
    raw_years = {}
    for x in raw:
        if x["sedaadmin"] not in seda.UNMAPPED_SEDAADMIN:
            raw_years.setdefault(int(x["fiscal_year"]), set()).add(x["sedaadmin"])
    assert d.groupby("year").size().to_dict() == {y: len(s) for y, s in sorted(raw_years.items())}
    assert sorted(d["year"].unique()) == list(seda.SEDA_YEARS)


@pytest.mark.realdata
def test_real_hartford_bridgeport_every_year(real):
    d = real.district
    for code in ("0640011", "0150011"):
        years = d.loc[d["district_code"] == code, "year"].tolist()
        assert years == list(seda.SEDA_YEARS), code
    h = d.set_index(["district_code", "year"])
    # 901920,Hartford School District,2019,...,11055,2.896833641842618,0.0521644535363639,...
    hart = h.loc[("0640011", 2019)]
    assert hart["seda_tot_asmts"] == 11055
    assert hart["seda_gcs_eb"] == pytest.approx(2.896833641842618, abs=1e-12)
    assert hart["seda_grade_levels"] == pytest.approx(-2.603166358157382, abs=1e-12)
    assert hart["seda_math_eb"] == pytest.approx(3.038396420399103, abs=1e-12)
    assert hart["seda_id"] == "901920"
    # 900450,Bridgeport School District,2025,...,17112,2.374648053467271,0.0101083697229394,...
    bpt = h.loc[("0150011", 2025)]
    assert (bpt["seda_tot_asmts"], bpt["seda_gcs_eb_se"]) == (17112, pytest.approx(0.0101083697229394))
    # Region 16 (Beacon Falls and Prospect rows, identical): once, under its regional code.
    r16 = h.loc[("2160012", 2018)]
    assert r16["seda_gcs_eb"] == pytest.approx(6.993178020504291) and r16["seda_tot_asmts"] == 2019


@pytest.mark.realdata
def test_real_types_and_entities(real):
    d = real.district
    assert d["year"].dtype == np.int64
    for c in seda.PANEL_NAMES.values():
        assert d[c].dtype == np.float64
    suffixes = set(d["district_code"].str[-2:])
    assert {"11", "12", "13", "14", "15"} <= suffixes
    assert (d["seda_gcs_eb_se"] > 0).all() and (d["seda_tot_asmts"] > 0).all()


@pytest.mark.realdata
def test_real_ols_and_eb_estimates(real, raw):
    """The OLS (sampling) SEs are never below the EB (posterior) SEs, and the values are the raw file's."""
    d = real.district
    assert d["seda_gcs_ol"].notna().all() and d["seda_gcs_ol_se"].notna().all()
    assert (d["seda_gcs_ol_se"] >= d["seda_gcs_eb_se"]).all()
    first = {(x["sedaadmin"], int(x["fiscal_year"])): x for x in raw}
    h = d.loc[d["district_code"] == "0640011"].iloc[0]
    x = first[(h["seda_id"], int(h["year"]))]
    assert (h["seda_gcs_ol"], h["seda_gcs_ol_se"]) == (
        float(x["gcs_mn_avg_ol"]), float(x["gcs_mn_avg_ol_se"]))
