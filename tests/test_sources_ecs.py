"""ECS entitlement by town: fixture tests, bad input, and checks against the real file."""

from __future__ import annotations

import pandas as pd
import pytest

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import ecs
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

HEADER = (
    "town_code,district_code,town,fiscal_year,entitlement,alliance_portion,"
    "education_diversity_portion,non_alliance_portion\n"
)

# Same shape as the real file: no title lines, blank split cells in FY2012 and blank Education Diversity
# cells before FY2024. Durham (38) has no local district (Region 13).
GOOD = HEADER + (
    "1,1,ANDOVER,2012,2330856,,,\n"
    "15,15,BRIDGEPORT,2012,164195344,,,\n"
    "38,38,DURHAM,2012,3954812,,,\n"
    "1,1,ANDOVER,2013,2367466,0,,2367466\n"
    "15,15,BRIDGEPORT,2013,168599571,4404227,,164195344\n"
    "38,38,DURHAM,2013,3986743,0,,3986743\n"
    "15,15,BRIDGEPORT,2024,192456792,28029094,232354,164195344\n"
)

REAL_PATH = "edbot317-source/public-CT-ed-data/data/town_year_ecs_entitlement/town_year_ecs_entitlement.csv"



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts: the whole-file year coverage is the corruption suite's to test."""
    monkeypatch.setattr(ecs, "check_year_coverage", lambda *args, **kwargs: None)

def read(path, crosswalk, display="ecs.csv"):
    report = SourceReport(ecs.FAMILY, display)
    return ecs.read_ecs_file(path, display, crosswalk, report), report


def fixture_registry(path, tmp_path) -> Registry:
    """A one-file registry for the fixture, so that ``load`` can be tested end to end."""
    rel = path.relative_to(tmp_path).as_posix()
    entry = RegistryEntry(rel, ecs.FAMILY, sha256_file(path), path.stat().st_size, "", "", "yes", "", "")
    return Registry(entries=[entry], raw_dir=tmp_path)


# --- fixture: expected values computed by hand ------------------------------------------------------


def test_fixture_town_table_and_accounting(write_raw, crosswalk):
    town, report = read(write_raw("ecs.csv", GOOD), crosswalk)
    assert report.rows_read == 7
    assert report.rows_kept == 5
    assert report.dropped == {ecs.NO_LOCAL_DISTRICT: 2}
    assert len(town) == 7
    dur = town[town["town_code"] == 38]
    assert dur["district_code"].isna().all()
    assert dur["ecs_entitlement"].tolist() == [3954812.0, 3986743.0]
    bpt = town[town["town_code"] == 15].set_index("year")
    assert (bpt["district_code"] == "0150011").all()
    # FY2012: no split yet -> Alliance 0, non-Alliance = entitlement.
    assert bpt.loc[2012, "alliance_dollars"] == 0.0
    assert bpt.loc[2012, "ecs_non_alliance"] == 164195344.0
    assert bpt.loc[2013, "alliance_dollars"] == 4404227.0
    assert bpt.loc[2013, "ecs_education_diversity"] == 0.0
    assert bpt.loc[2024, "ecs_education_diversity"] == 232354.0
    # Blank structural cells are counted per raw column: 3 + 3 FY2012 split cells, 6 Education Diversity.
    assert report.suppressed == {"alliance_portion": 3, "non_alliance_portion": 3,
                                 "education_diversity_portion": 6}


def test_fixture_load(write_raw, tmp_path, crosswalk):
    path = write_raw("raw/ecs.csv", GOOD)
    out = ecs.load(fixture_registry(path, tmp_path), crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "year", "town_code", *ecs.MONEY]
    assert d[["district_code", "year"]].values.tolist() == [
        ["0010011", 2012], ["0010011", 2013], ["0150011", 2012], ["0150011", 2013], ["0150011", 2024]]
    assert d["year"].dtype == "int64"
    assert str(d["town_code"].dtype) == "Int64"
    assert d["district_code"].map(type).eq(str).all()
    # State = all towns, Durham included: FY2013 = 2367466 + 168599571 + 3986743.
    st = out.state.set_index("year")
    assert st.loc[2013, "ecs_entitlement"] == 2367466 + 168599571 + 3986743
    assert st.loc[2013, "alliance_dollars"] == 4404227
    assert len(out.extra["ecs_town"]) == 7
    assert [c.name for c in out.columns] == ["town_code", *ecs.MONEY]


# --- bad input: each error names the file, the row and the column -----------------------------------


def _bad(write_raw, crosswalk, text, encoding="utf-8"):
    with pytest.raises(RawDataError) as info:
        read(write_raw("bad.csv", text, encoding), crosswalk, display="bad.csv")
    return info.value


def test_renamed_column(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("alliance_portion,", "alliance_amount,", 1))
    assert err.file == "bad.csv" and err.row == 1 and err.column == "alliance_amount"


def test_missing_column(write_raw, crosswalk):
    text = "\n".join(line.rsplit(",", 1)[0] for line in GOOD.splitlines()) + "\n"
    err = _bad(write_raw, crosswalk, text)
    assert err.row == 1 and err.column == "ecs_non_alliance"
    assert "missing column" in str(err)


def test_non_numeric_amount(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("168599571", "16859957l"))
    assert (err.row, err.column) == (6, "entitlement")
    assert "bad.csv" in str(err) and "row 6" in str(err) and "'entitlement'" in str(err)


def test_negative_amount(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("2367466,0,,2367466", "2367466,-5,,2367471"))
    assert (err.row, err.column) == (5, "alliance_portion")


def test_split_does_not_add_up(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("4404227,,164195344", "4404228,,164195344"))
    assert (err.row, err.column) == (6, "entitlement")
    assert "gap -1" in str(err)


def test_blank_alliance_after_program_start(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("168599571,4404227,,", "168599571,,,"))
    assert (err.row, err.column) == (6, "alliance_portion")


def test_duplicate_town_year(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD + "15,15,BRIDGEPORT,2013,168599571,4404227,,164195344\n")
    assert (err.row, err.column) == (9, "town_code")
    assert "duplicate" in str(err)


def test_unknown_town_code(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD + "170,170,NOWHERE,2013,1,0,,1\n")
    assert (err.row, err.column) == (9, "town_code")


def test_district_code_differs_from_town(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("38,38,DURHAM,2013", "38,39,DURHAM,2013"))
    assert (err.row, err.column) == (7, "district_code")


def test_header_only(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, HEADER)
    assert err.row == 2 and "no data rows" in str(err)


def test_cut_mid_row(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD[: GOOD.rindex("192456792") + 4])
    assert err.row == 8
    assert err.column in {"entitlement", "alliance_portion"}


def test_cut_mid_number(write_raw, crosswalk):
    # "...,164195344\n" cut to "...,1641953": the split no longer adds up (and the line break is gone).
    err = _bad(write_raw, crosswalk, GOOD[:-3])
    assert (err.row, err.column) == (8, "entitlement")


def test_not_utf8(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("DURHAM,2013", "DÜRHAM,2013"), encoding="latin-1")
    assert err.file == "bad.csv" and err.row == 7
    assert "UTF-8" in str(err)


# --- the real file ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return ecs.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_accounting(real):
    (report,) = real.reports
    assert report.file == REAL_PATH
    assert report.rows_read == 169 * 13 == report.rows_kept + sum(report.dropped.values())
    # 20 towns send all their pupils to regional districts (2022-23 directory), 13 years each.
    assert report.dropped == {ecs.NO_LOCAL_DISTRICT: 20 * 13}
    counts = real.district.groupby("year").size()
    assert counts.index.tolist() == list(range(2012, 2025))
    assert (counts == 169 - 20).all()
    town = real.extra["ecs_town"]
    assert len(town) == 169 * 13
    assert set(town.loc[town["district_code"].isna(), "town"]) >= {"DURHAM", "MIDDLEFIELD"}


@pytest.mark.realdata
def test_real_alliance_totals(real):
    st = real.state.set_index("year")
    assert st.loc[2012, "alliance_dollars"] == 0
    assert st.loc[2013, "alliance_dollars"] == 39_499_998  # the announced $39.5 million
    assert abs(st.loc[2015, "alliance_dollars"] - 132.9e6) < 0.1e6
    assert st.loc[2015, "alliance_dollars"] == 132_901_813
    # No town without a local district ever received Alliance money, so the district table holds it all.
    dist = real.district.groupby("year")["alliance_dollars"].sum()
    assert (dist == st["alliance_dollars"]).all()


@pytest.mark.realdata
def test_real_spot_values(real):
    d = real.district.set_index(["district_code", "year"])
    # Raw line 523: 15,15,BRIDGEPORT,2015,178900148,14704804,,164195344
    assert d.loc[("0150011", 2015), "alliance_dollars"] == 14_704_804
    assert d.loc[("0150011", 2015), "ecs_entitlement"] == 178_900_148
    assert d.loc[("0150011", 2015), "ecs_non_alliance"] == 164_195_344
    # Raw line 2093: 64,64,HARTFORD,2024,215966982,27672434,319658,187974890 (Education Diversity: FY2024).
    assert d.loc[("0640011", 2024), "ecs_education_diversity"] == 319_658
    assert d.loc[("0640011", 2024), "ecs_entitlement"] == (
        d.loc[("0640011", 2024), ["alliance_dollars", "ecs_non_alliance", "ecs_education_diversity"]].sum())
    # The accepted $1 discrepancy (Washington FY2016) stays as reported, in the town table.
    town = real.extra["ecs_town"].set_index(["town_code", "year"])
    assert town.loc[(150, 2016), "ecs_entitlement"] - town.loc[(150, 2016), "ecs_non_alliance"] == 1


@pytest.mark.realdata
def test_real_fy2013_recipients_are_the_original_30(real, registry):
    path = registry.verified_path(registry.entry("reference/alliance_designations.csv"))
    des = pd.read_csv(path)
    original = set(des.loc[des["first_fiscal_year_designated"] == 2013, "town_code"].astype(int))
    assert len(original) == 30
    town = real.extra["ecs_town"]
    fy13 = town[(town["year"] == 2013) & (town["alliance_dollars"] > 0)]
    assert set(fy13["town_code"].astype(int)) == original
