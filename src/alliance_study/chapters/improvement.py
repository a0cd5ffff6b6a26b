"""The improvement chapter (notebooks/04_rank_improvers.ipynb) and the profiles' P(top 8) per window.

:func:`run_chapter` runs every analysis the chapter reports (:mod:`alliance_study.analysis.improvement`);
:func:`chapter_facts` turns the results into the strings the prose quotes; the ``*_table`` functions give the
display tables, the ``*_figure`` functions the figures, and the ``*_verdict`` / ``*_sentence`` functions the
verdict sentences, each from a tested rule (``tests/test_chapters_improvement.py``). :func:`profile_windows`
gives one district's P(top 8) per window for its profile page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis import improvement as im
from alliance_study.chapters import display
from alliance_study.chapters.display import name_list
from alliance_study.data import memo

#: A district in the top group in at least this share of the specifications counts as stable.
STABLE_SHARE = 0.75
#: One-sided share of pure-noise panels at least as persistent as the data below which the chapter calls the
#: persistence more than noise (a conventional 5% level).
NOISE_LEVEL = 0.05
#: Number words for the size of the top group.
NUMBER_WORDS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def short_name(name: object) -> str:
    """A district's name without "School District" (``Hartford School District`` -> ``Hartford``)."""
    return str(name).replace(" School District", "").strip()


@dataclass
class ChapterResults:
    """Everything the chapter shows (see :func:`run_chapter`)."""

    spec: im.ImprovementSpec
    result: im.ImprovementResult
    boot: im.BootstrapResult
    sensitivity: pd.DataFrame
    counts: pd.DataFrame
    missing: pd.DataFrame
    corrections: pd.DataFrame
    windows: im.WindowsResult
    persistence: pd.DataFrame
    names: dict[str, str]


def run_chapter(panel: pd.DataFrame, *, indicators: Sequence[str], weights: Mapping[str, float] | None,
                window_start: int, window_end: int, baseline_span: int, end_span: int, peer_group: str,
                k_neighbors: int, alliance_cohorts: Sequence[int], min_indicators: int, top_n: int,
                n_boot: int, seed: int, later_windows: Sequence[Sequence[int]],
                n_noise_panels: int) -> ChapterResults:
    """Run the chapter's analyses: the main ranking and its draws, the sensitivity table, the effect of the
    missing-indicator rule and of all of issue 12's corrections, the later windows and their persistence
    against ``n_noise_panels`` simulated pure-noise panels."""
    prepared = im.prepare_panel(panel)
    spec = im.ImprovementSpec(
        indicators=tuple(indicators), weights=dict(weights) if weights else None, start_year=window_start,
        end_year=window_end, baseline_span=baseline_span, end_span=end_span, peer_group=peer_group,
        k_neighbors=k_neighbors, alliance_cohorts=tuple(alliance_cohorts), min_indicators=min_indicators,
        top_n=top_n)
    windows = im.as_windows(spec, later_windows)
    wres = im.run_windows(prepared, spec, windows, n_boot=n_boot, seed=seed)
    result, boot = wres.results[windows[0].label], wres.boots[windows[0].label]
    sensitivity, counts = im.sensitivity_table(prepared, spec)
    ranked = result.composite.loc[result.composite[spec.estimate].notna(), "district_code"]
    counts = top_counts(sensitivity, ranked)
    missing = im.missing_indicator_effect(prepared, result, boot)
    corrections = im.correction_effect(prepared, result, boot)
    observed = im.persistence(wres, n_boot=n_boot, seed=seed)
    noise = im.noise_persistence(prepared, spec, windows, n_panels=n_noise_panels, seed=seed)
    names = {c: short_name(n) for c, n in zip(result.composite["district_code"],
                                              result.composite["district_name"].fillna(""), strict=True)}
    return ChapterResults(spec, result, boot, sensitivity, counts, missing, corrections, wres,
                          im.compare_with_noise(observed, noise), names)


# --- verdict rules ------------------------------------------------------------------------------------------

def correction_verdict(before: Sequence[str], after: Sequence[str], names: Mapping[str, str]) -> str:
    """What issue 12's corrections did to the top group, as a sentence."""
    left = [names.get(c, c) for c in before if c not in after]
    entered = [names.get(c, c) for c in after if c not in before]
    if not left:
        return "The corrections leave the membership of the top group unchanged."
    verb_l = "leaves" if len(left) == 1 else "leave"
    verb_e = "enters" if len(entered) == 1 else "enter"
    return (f"The corrections change the top group: {name_list(left)} {verb_l} it and {name_list(entered)} "
            f"{verb_e} it.")


def peer_relative_sentence(result: im.ImprovementResult) -> str:
    """Whether "relative to peers" adds anything to the raw change, from the estimates themselves."""
    bi = result.by_indicator.loc[result.by_indicator["target"]]
    checks = [im.peer_relative_is_affine(g["change"], g["naive"]) for _, g in bi.groupby("indicator")
              if g["naive"].notna().sum() > 2]
    if checks and all(ok for ok, _ in checks):
        slopes = sorted({f"{s:.3f}" for _, s in checks})
        return ("With the other Alliance Districts as peers, an improvement relative to peers is each "
                "district's raw change shifted by a constant and multiplied by n/(n-1) "
                f"({' or '.join(slopes)} here), so the naive ranking is simply the ranking of raw change.")
    return ("With these peers, an improvement relative to peers differs from district to district by more "
            "than a common shift, so it is not a rescaled raw change.")


def missing_verdict(missing: pd.DataFrame, names: Mapping[str, str]) -> str:
    """What scoring a missing indicator at its prior mean changed for the districts lacking one."""
    lacking = missing.loc[missing["missing_indicators"] != ""]
    if lacking.empty:
        return "Every ranked district has every indicator of the window, so the rule changes nothing."
    out = [names.get(c, c) for c, a, b in zip(lacking["district_code"], lacking["in_top_available"],
                                              lacking["in_top"], strict=True) if a and not b]
    into = [names.get(c, c) for c, a, b in zip(lacking["district_code"], lacking["in_top_available"],
                                               lacking["in_top"], strict=True) if b and not a]
    who = name_list([names.get(c, c) for c in lacking["district_code"]])
    if not out and not into:
        return f"For {who}, the rule moves ranks but not membership of the top group."
    parts = []
    if out:
        parts.append(f"{name_list(out)} {'drops' if len(out) == 1 else 'drop'} out of the top group")
    if into:
        parts.append(f"{name_list(into)} {'enters' if len(into) == 1 else 'enter'} it")
    return f"Scoring the missing indicator at its prior mean, {' and '.join(parts)}."


def persistence_verdict(row: Mapping[str, Any], level: float = NOISE_LEVEL) -> str:
    """Whether the improvement of one window carried into the next, judged against pure noise.

    The rank correlation counts as persistent when fewer than ``level`` of the pure-noise panels reach it;
    the overlap of the top groups likewise.
    """
    rho_more = np.isfinite(row["spearman"]) and row["p_noise_spearman"] < level
    overlap_more = row["p_noise_overlap"] < level
    pair = f"From {row['first']} to {row['second']}"
    if rho_more and overlap_more:
        return f"{pair}, both the rank correlation and the overlap of the top groups exceed what noise gives."
    if rho_more:
        return (f"{pair}, the rank correlation exceeds what noise gives, but the overlap of the top groups "
                "does not.")
    if overlap_more:
        return (f"{pair}, the overlap of the top groups exceeds what noise gives, but the rank correlation "
                "does not.")
    return f"{pair}, neither the rank correlation nor the overlap of the top groups exceeds what noise gives."


def top_counts(sensitivity: pd.DataFrame, ranked: Sequence[str]) -> pd.DataFrame:
    """How often each district is in the top group of the rows of the sensitivity table.

    Counted from ``sensitivity["top"]``, the column Table "tbl-improvement-sensitivity" prints
    (:func:`sensitivity_display`), so the sentences on stable improvers and the membership figure cannot
    disagree with the table.

    Parameters
    ----------
    sensitivity
        :func:`alliance_study.analysis.improvement.sensitivity_table` (``variant``, ``top``).
    ranked
        Districts of the main ranking (listed even when they are in no top group); districts in some
        variant's top group but not in ``ranked`` are added.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``n_top`` (rows of the table in whose top group it is) and ``share_top``
        (``n_top`` over the number of rows), most often first, ties by code.

    Examples
    --------
    >>> t = pd.DataFrame({"variant": ["main", "v"], "top": [["a", "b"], ["b", "c"]]})
    >>> top_counts(t, ["a", "b", "c", "d"])["n_top"].tolist()
    [2, 1, 1, 0]
    """
    tops = [list(t) for t in sensitivity["top"]]
    codes = list(dict.fromkeys([*ranked, *(c for t in tops for c in t)]))
    n_top = [sum(code in t for t in tops) for code in codes]
    out = pd.DataFrame({"district_code": codes, "n_top": n_top})
    out["share_top"] = out["n_top"] / len(tops) if tops else np.nan
    return out.sort_values(["n_top", "district_code"], ascending=[False, True], ignore_index=True)


def robust_sentence(n_ever: int, n_districts: int, stable: Sequence[str], n_specs: int, top_word: str,
                    share: float = STABLE_SHARE) -> str:
    """How many districts make some top group and which make it in most specifications (a rule).

    Examples
    --------
    >>> robust_sentence(21, 30, ["Putnam", "Windham"], 22, "eight")[-75:]
    'and 2 make it in at least 75% of the 22 specifications: Putnam and Windham.'
    >>> robust_sentence(9, 30, [], 22, "eight")[-59:]
    'and none makes it in at least 75% of the 22 specifications.'
    """
    head = f"In all, {n_ever} of the {n_districts} districts make some top {top_word}, and"
    tail = f"in at least {share:.0%} of the {n_specs} specifications"
    if not stable:
        return f"{head} none makes it {tail}."
    verb = "makes" if len(stable) == 1 else "make"
    return f"{head} {len(stable)} {verb} it {tail}: {name_list(stable)}."


def robust_verdict(stable: Sequence[str], top_word: str, share: float = STABLE_SHARE) -> str:
    """Which districts look like improvers whatever the choices, and what that leaves (a rule).

    Ends where the chapter's sentence continues with the choices (": the indicators, the years, ...").

    Examples
    --------
    >>> robust_verdict(["Putnam"], "eight")[:72]
    'Putnam is in the top group in at least 75% of the specifications and so '
    >>> robust_verdict([], "eight")[:61]
    'No district is in the top group in 75% of the specifications,'
    """
    if not stable:
        return (f"No district is in the top group in {share:.0%} of the specifications, so membership of a "
                f"top {top_word} depends on choices the study did not report")
    one = len(stable) == 1
    return (f"{name_list(stable)} {'is' if one else 'are'} in the top group in at least {share:.0%} of the "
            f"specifications and so look{'s' if one else ''} like {'an improver' if one else 'improvers'} "
            "relative to the other Alliance Districts under most reasonable choices. Beyond "
            f"{'it' if one else 'them'}, membership of a top {top_word} depends on choices the study did not "
            "report")


def robust_facts(sensitivity: pd.DataFrame, ranked: Sequence[str], names: Mapping[str, str], top_word: str,
                 share: float = STABLE_SHARE) -> dict[str, str]:
    """The stable-improver facts and sentences, counted from the sensitivity table (:func:`top_counts`).

    Returns
    -------
    dict
        ``n_specs``, ``n_ever_top``, ``n_stable``, ``stable_names``, ``stable_pct``, ``robust_sentence``
        and ``robust_verdict``.
    """
    counts = top_counts(sensitivity, ranked)
    stable = [names.get(c, c) for c in counts.loc[counts["share_top"] >= share, "district_code"]]
    n_ever = int((counts["n_top"] > 0).sum())
    return {
        "n_specs": str(len(sensitivity)), "n_ever_top": str(n_ever), "n_stable": str(len(stable)),
        "stable_names": name_list(stable), "stable_pct": f"{share:.0%}",
        "robust_sentence": robust_sentence(n_ever, len(counts), stable, len(sensitivity), top_word, share),
        "robust_verdict": robust_verdict(stable, top_word, share),
    }


# --- facts --------------------------------------------------------------------------------------------------

def chapter_facts(res: ChapterResults) -> dict[str, str]:
    """Every string the chapter's prose quotes (none typed in the notebook)."""
    spec, result, boot, names = res.spec, res.result, res.boot, res.names
    comp = result.composite.set_index("district_code")
    n_ranked = int(comp[spec.estimate].notna().sum())
    top, naive_top = result.top(), result.top("naive")
    p_raw = boot.p_top()
    p = p_raw.map(lambda v: float(f"{v:.2f}"))  # thresholds apply to the probabilities as printed
    sens = res.sensitivity
    others = sens.loc[sens["variant"] != "main"]
    worst = others.loc[others["overlap"].idxmin()] if len(others) else None
    tops = dict(zip(sens["variant"], sens["top"], strict=True))
    before = tops.get(im.BEFORE_VARIANT, top)
    labels = [im.INDICATORS[i].label.split(" (")[0].lower() for i in spec.indicators]
    f: dict[str, str] = {
        "indicator_list": name_list(labels),
        "n_indicators": str(len(spec.indicators)),
        "window_start": str(spec.start_year), "window_end": str(spec.end_year),
        "window_school_years": f"{spec.start_year - 1}-{spec.start_year % 100:02d} to "
                               f"{spec.end_year - 1}-{spec.end_year % 100:02d}",
        "peer_label": im.PEER_GROUPS[spec.peer_group],
        "cohort_text": " and ".join(f"FY{c}" for c in spec.alliance_cohorts),
        "n_boot": f"{boot.n_boot:,}",
        "weights_text": ("equal weights" if len({spec.weight(i) for i in spec.indicators}) == 1 else
                         "weights " + ", ".join(f"{i} {spec.weight(i):g}" for i in spec.indicators)),
        "n_ranked": str(n_ranked), "top_n": str(spec.top_n),
        "top_n_word": NUMBER_WORDS.get(spec.top_n, str(spec.top_n)),
        "p_chance": f"{spec.top_n / n_ranked:.2f}" if n_ranked else "not available",
        "top_names": name_list([names[c] for c in top]),
        "top_with_p": name_list([f"{names[c]} ({p_raw[c]:.2f})" for c in top]),
        "naive_top_names": name_list([names[c] for c in naive_top]),
        "overlap_naive": str(len(set(top) & set(naive_top))),
        "dropped_names": name_list([names[c] for c in naive_top if c not in top]),
        "added_names": name_list([names[c] for c in top if c not in naive_top]),
        "n_p90": str(int((p >= 0.9).sum())), "p90_names": name_list([names[c] for c in p.index[p >= 0.9]]),
        "n_p50": str(int((p > 0.5).sum())), "p50_names": name_list([names[c] for c in p.index[p > 0.5]]),
        "expected_in_top": f"{boot.expected_true_in_top:.1f}",
        "chance_in_top": f"{spec.top_n**2 / n_ranked:.1f}" if n_ranked else "not available",
        "n_variants": str(len(others)),
        "mean_overlap": f"{others['overlap'].mean():.1f}" if len(others) else "not available",
        "mean_jaccard": f"{others['jaccard'].mean():.2f}" if len(others) else "not available",
        "min_overlap": str(int(worst["overlap"])) if worst is not None else "0",
        "min_overlap_variant": str(worst["variant"]) if worst is not None else "none",
        "chance_overlap": f"{sens['chance_overlap'].iloc[0]:.1f}",
        "fallers": name_list([f"{names[c]} ({comp.loc[c, 'rank_naive']:.0f} to {comp.loc[c, 'rank_eb']:.0f})"
                              for c in (comp["rank_eb"] - comp["rank_naive"]).nlargest(3).index]),
        "risers": name_list([f"{names[c]} ({comp.loc[c, 'rank_naive']:.0f} to {comp.loc[c, 'rank_eb']:.0f})"
                             for c in (comp["rank_naive"] - comp["rank_eb"]).nlargest(3).index]),
        "before_top_names": name_list([names.get(c, c) for c in before]),
        "correction_verdict": correction_verdict(before, top, names),
        "peer_relative_sentence": peer_relative_sentence(result),
        "missing_verdict": missing_verdict(res.missing, names),
        "missing_names": name_list([f"{names[c]} (no {m})" for c, m in zip(
            comp.index, comp["missing_indicators"], strict=True) if m]),
    }
    if im.NOISE_ONLY_VARIANT in tops and im.NAIVE_VARIANT in tops:
        noise_only = set(tops[im.NOISE_ONLY_VARIANT])
        f["noise_only_overlap_naive"] = str(len(noise_only & set(tops[im.NAIVE_VARIANT])))
        f["noise_only_overlap_main"] = str(len(noise_only & set(top)))
    ind = result.indicators.set_index("indicator")
    for name in spec.indicators:
        row = ind.loc[name]
        f[f"{name}_baseline_years"], f[f"{name}_end_years"] = row["baseline_years"], row["end_years"]
        for key, value in (("slope", row["slope_on_baseline"]), ("reliability", row["mean_reliability"]),
                           ("signal_sd", np.sqrt(row["tau2"])),
                           ("noise_sd", np.sqrt(row["mean_sampling_var"])),
                           ("transient_sd", np.sqrt(row["transient_var"]))):
            f[f"{name}_{key}"] = "not available" if not np.isfinite(value) else f"{value:.2f}"
    f.update(robust_facts(sens, res.counts["district_code"], names, f["top_n_word"]))
    f.update(_window_facts(res))
    return f


def _window_facts(res: ChapterResults) -> dict[str, str]:
    wins = res.windows.windows
    f = {"later_windows": name_list([w.label for w in wins[1:]]), "n_windows": str(len(wins))}
    for k, w in enumerate(wins):
        r = res.windows.results[w.label]
        f[f"window{k}_label"] = w.label
        f[f"window{k}_top_names"] = name_list([res.names.get(c, c) for c in r.top()])
        f[f"window{k}_indicators"] = name_list(r.in_window())
    rows = res.persistence.to_dict("records")
    f["persistence_verdicts"] = " ".join(persistence_verdict(r) for r in rows)
    if rows:
        first = rows[0]
        f["first_spearman"] = (f"{first['spearman']:.2f}" if np.isfinite(first["spearman"])
                               else "not available")
        f["first_spearman_interval"] = (f"{first['spearman_lo']:.2f} to {first['spearman_hi']:.2f}"
                                        if np.isfinite(first["spearman_lo"]) else "not available")
        f["first_noise_spearman"] = f"{first['noise_spearman']:.2f}"
        f["first_overlap"] = str(int(first["overlap"]))
        f["first_noise_overlap"] = f"{first['noise_overlap']:.1f}"
        f["first_expected_overlap"] = f"{first['expected_overlap']:.1f}"
        stayed = sorted(set(res.windows.results[first["first"]].top())
                        & set(res.windows.results[first["second"]].top()))
        f["first_stayed_names"] = name_list([res.names.get(c, c) for c in stayed])
    return f


def glue_facts(facts: Mapping[str, str]) -> None:
    """Glue every fact under its own name."""
    for key, value in facts.items():
        display.glue(key, value)


# --- tables -------------------------------------------------------------------------------------------------

def indicator_table(result: im.ImprovementResult) -> pd.DataFrame:
    """The indicators of a specification: years used, districts, reversion, signal and noise."""
    ind = result.indicators
    return pd.DataFrame({
        "Indicator": ind["label"],
        "Improvement is": ind["direction"].str.replace(" is better", ""),
        "Baseline years": ind["baseline_years"], "End years": ind["end_years"],
        "Districts in pool": ind["n_pool"], "Ranked": ind["n_ranked"],
        "Slope on baseline": ind["slope_on_baseline"], "Signal SD": np.sqrt(ind["tau2"]),
        "Sampling + transient SD (mean)": np.sqrt(ind["mean_sampling_var"]),
        "Transient SD": np.sqrt(ind["transient_var"]), "Reliability (mean)": ind["mean_reliability"],
    })


def ranking_table(result: im.ImprovementResult, boot: im.BootstrapResult | None = None) -> pd.DataFrame:
    """Naive vs adjusted rankings of the ranked districts, best adjusted first."""
    comp = result.composite
    out = pd.DataFrame({
        "District": comp["district_name"].fillna(comp["district_code"]).map(short_name),
        "Indicators": comp["n_indicators"],
        "Naive": comp["naive"], "Naive rank": comp["rank_naive"].astype("Int64"),
        "Regression-adjusted": comp["rtm"], "Regression rank": comp["rank_rtm"].astype("Int64"),
        "EB-adjusted": comp["eb"], "EB rank": comp["rank_eb"].astype("Int64"),
    })
    if boot is not None:
        b = boot.table.set_index("district_code").reindex(comp["district_code"])
        out["P(top) adjusted"] = b["p_top"].to_numpy()
        out["P(top) naive"] = b["p_top_naive"].to_numpy()
        out["Rank 90% interval"] = [f"{lo:.0f}-{hi:.0f}" if np.isfinite(lo) else ""
                                    for lo, hi in zip(b["rank_lo"], b["rank_hi"], strict=True)]
    return out


def sensitivity_display(sensitivity: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The sensitivity table: variant, districts ranked, top group (short names), overlap with main."""
    return pd.DataFrame({
        "Specification": sensitivity["variant"], "Ranked": sensitivity["n_ranked"],
        "Top group (best first)": [", ".join(short_name(names.get(c, c)) for c in top)
                                   for top in sensitivity["top"]],
        "Overlap with main": sensitivity["overlap"], "Jaccard": sensitivity["jaccard"],
    })


def comparison_table(effect: pd.DataFrame, suffix: str, label: str, only_missing: bool = False
                     ) -> pd.DataFrame:
    """Rank and P(top) of each district under the main rule and under ``label`` (``suffix`` columns of
    :func:`alliance_study.analysis.improvement.missing_indicator_effect` or ``correction_effect``)."""
    rows = effect.loc[effect["missing_indicators"] != ""] if only_missing else effect
    return pd.DataFrame({
        "District": rows["district_name"].map(short_name),
        "Missing": rows["missing_indicators"].replace("", "-"),
        "Rank": rows["rank"].astype("Int64"), f"Rank ({label})": rows[f"rank_{suffix}"].astype("Int64"),
        "P(top)": rows["p_top"], f"P(top) ({label})": rows[f"p_top_{suffix}"],
    })


def top_membership(sensitivity: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """0/1 matrix: rows = ranked districts (most often in the top group first), columns = specifications."""
    out = pd.DataFrame(0, index=counts["district_code"], columns=sensitivity["variant"].tolist())
    for variant, top in zip(sensitivity["variant"], sensitivity["top"], strict=True):
        out.loc[out.index.isin(top), variant] = 1
    return out


def windows_table(wres: im.WindowsResult, names: Mapping[str, str]) -> pd.DataFrame:
    """P(top) per window for every ranked district, ordered by the first window."""
    p = wres.p_top()
    first = wres.windows[0].label
    p = p.sort_values(first, ascending=False)
    out = pd.DataFrame({"District": [names.get(c, short_name(n)) for c, n in
                                     zip(p["district_code"], p["district_name"], strict=True)]})
    for w in wres.windows:
        out[f"P(top) {w.label}"] = p[w.label].to_numpy()
    return out


def persistence_table(persistence: pd.DataFrame) -> pd.DataFrame:
    """Persistence between windows against pure noise."""
    return pd.DataFrame({
        "Windows": persistence["first"] + " to " + persistence["second"],
        "Districts": persistence["n_common"],
        "Spearman": persistence["spearman"],
        "90% interval": [f"{lo:.2f} to {hi:.2f}" if np.isfinite(lo) else "" for lo, hi in
                         zip(persistence["spearman_lo"], persistence["spearman_hi"], strict=True)],
        "Noise: Spearman (90% range)": [f"{m:.2f} ({lo:.2f} to {hi:.2f})" for m, lo, hi in zip(
            persistence["noise_spearman"], persistence["noise_spearman_lo"], persistence["noise_spearman_hi"],
            strict=True)],
        "Top group kept": persistence["overlap"],
        "Expected from P(top)": persistence["expected_overlap"],
        "Noise: kept (mean)": persistence["noise_overlap"],
        "Chance": persistence["chance_overlap"],
    })


# --- figures ------------------------------------------------------------------------------------------------

def ptop_figure(result: im.ImprovementResult, boot: im.BootstrapResult):
    """P(top) adjusted and naive per district, with the adjusted rank's median and 90% interval."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    top_n = result.spec.top_n
    table = boot.table.sort_values("p_top").reset_index(drop=True)
    y = np.arange(len(table))
    fig, (ax_p, ax_r) = plt.subplots(1, 2, figsize=(9, 0.24 * len(table) + 1.4), sharey=True,
                                     gridspec_kw={"width_ratios": [3, 2]})
    top_mask = table["district_code"].isin(result.top())
    colors = np.where(top_mask, display.PALETTE["alliance"], display.PALETTE["other"])
    ax_p.barh(y, table["p_top"], color=colors, xerr=1.96 * table["p_top_mc_se"],
              error_kw={"elinewidth": 0.8, "capsize": 1.5})
    ax_p.scatter(table["p_top_naive"], y, marker="|", s=60, color=display.PALETTE["comparison"], zorder=3)
    ax_p.axvline(top_n / len(table), color="#555555", linestyle=":", linewidth=1)
    handles = [Patch(color=display.PALETTE["alliance"], label=f"adjusted, in the named {top_n}"),
               Patch(color=display.PALETTE["other"], label="adjusted, others"),
               Line2D([], [], color=display.PALETTE["comparison"], marker="|", linestyle="", markersize=9,
                      label="naive"),
               Line2D([], [], color="#555555", linestyle=":", label="chance")]
    ax_p.set_yticks(y, table["district_name"].map(short_name), fontsize=8)
    ax_p.set_xlim(0, 1.02)
    ax_p.set_xlabel(f"P(top {top_n})")
    ax_p.legend(handles=handles, loc="lower right", fontsize=8)
    ax_r.hlines(y, table["rank_lo"], table["rank_hi"], color=display.PALETTE["state"], linewidth=2)
    ax_r.scatter(table["rank_median"], y, color="black", s=12, zorder=3)
    ax_r.axvline(top_n + 0.5, color=display.PALETTE["alliance"], linestyle="--", linewidth=1)
    ax_r.set_xlabel("adjusted rank (median, 90% interval)")
    ax_r.set_xlim(0.5, len(table) + 0.5)
    ax_r.invert_xaxis()
    fig.tight_layout()
    return fig


def sensitivity_figure(sensitivity: pd.DataFrame, counts: pd.DataFrame, names: Mapping[str, str]):
    """Membership of the top group by specification (dark = in it); the main specification first."""
    import matplotlib.pyplot as plt

    membership = top_membership(sensitivity, counts)
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(membership) + 2.6))
    ax.imshow(membership.to_numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1.6, interpolation="nearest")
    ax.set_yticks(np.arange(len(membership)), [names.get(c, c) for c in membership.index], fontsize=8)
    ax.set_xticks(np.arange(membership.shape[1]), membership.columns, rotation=60, ha="right", fontsize=7)
    ax.set_xticks(np.arange(membership.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(membership) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.grid(which="major", visible=False)
    ax.tick_params(which="minor", length=0)
    ax.axvline(0.5, color=display.PALETTE["alliance"], linewidth=1.5)
    fig.tight_layout()
    return fig


def windows_figure(wres: im.WindowsResult, names: Mapping[str, str]):
    """P(top) of each district in each window (lines join a district's windows; the first window's top
    group in red)."""
    import matplotlib.pyplot as plt

    p = wres.p_top().set_index("district_code")
    labels = [w.label for w in wres.windows]
    first_top = set(wres.results[labels[0]].top())
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(len(labels))
    for code, row in p[labels].iterrows():
        hot = code in first_top
        color = display.PALETTE["alliance"] if hot else display.PALETTE["other"]
        ax.plot(x, row.to_numpy(), marker="o", markersize=3, linewidth=1.4 if hot else 0.7, color=color,
                zorder=3 if hot else 2)
        if hot and np.isfinite(row.iloc[-1]):
            ax.annotate(names.get(code, code), (x[-1], row.iloc[-1]), xytext=(4, 0),
                        textcoords="offset points", fontsize=7, va="center")
    chance = wres.results[labels[0]].spec.top_n / max(len(p), 1)
    ax.axhline(chance, color="#555555", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.2, len(labels) - 0.4)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"P(top {wres.results[labels[0]].spec.top_n})")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


# --- profiles -----------------------------------------------------------------------------------------------

def profile_windows(panel: pd.DataFrame, district_code: str, window_start: int = 2013, window_end: int = 2016,
                    later_windows: Sequence[Sequence[int]] = ((2016, 2019), (2019, 2025, 2)),
                    n_boot: int = 2000, seed: int = 0,
                    spec: im.ImprovementSpec | None = None) -> tuple[pd.DataFrame, str]:
    """One district's P(top 8) and adjusted rank per window, for its profile page.

    With the chapter's ``window_start``, ``window_end``, ``later_windows``, ``n_boot`` and ``seed`` the
    numbers are the chapter's own (the same draws). A district outside the ranked cohorts is not ranked and
    costs nothing.

    Returns
    -------
    tuple
        A display table (``Window, Indicators, Rank among ranked (90% interval), P(top 8)``; "not ranked"
        where the district is not ranked) and a sentence.
    """
    spec = replace(spec or im.ImprovementSpec(), start_year=window_start, end_year=window_end)
    windows = im.as_windows(spec, later_windows)
    cohort = panel.loc[panel["district_code"] == district_code, "alliance_cohort"].dropna()
    if cohort.empty or int(cohort.iloc[0]) not in spec.alliance_cohorts:
        rows = pd.DataFrame({"window": [w.label for w in windows], "indicators": "", "rank": np.nan,
                             "rank_lo": np.nan, "rank_hi": np.nan, "p_top": np.nan, "in_top": False,
                             "n_ranked": 0})
        return profile_table(rows, spec.top_n, spec.alliance_cohorts)
    rows = ranked_windows(panel, spec, windows, n_boot=n_boot, seed=seed)
    rows = rows.loc[rows["district_code"] == district_code].drop(columns="district_code")
    return profile_table(rows.reset_index(drop=True), spec.top_n, spec.alliance_cohorts)


def ranked_windows(panel: pd.DataFrame, spec: im.ImprovementSpec, windows: Sequence[im.Window], n_boot: int,
                   seed: int) -> pd.DataFrame:
    """Every ranked-cohort district's window rows (``district_code`` + ``WindowsResult.district``).

    The computation does not depend on the district, so inside the book runner it is done once per build
    and the profiles read their rows (:func:`alliance_study.data.memo.memo_frame`, keyed on the panel's
    content, the specification, windows, draws, seed and the library's code); elsewhere it is computed.
    """
    codes = sorted(panel.loc[panel["alliance_cohort"].isin(spec.alliance_cohorts), "district_code"].unique())
    parts = {"panel": memo.frame_digest(panel), "spec": asdict(spec), "n_boot": n_boot, "seed": seed,
             "windows": [asdict(w) for w in windows], "codes": codes}
    return memo.memo_frame("profile-windows", parts, lambda: im.run_windows(
        panel, spec, windows, n_boot=n_boot, seed=seed).districts(codes))


def profile_table(rows: pd.DataFrame, top_n: int = 8, cohorts: Sequence[int] = (2013,)
                  ) -> tuple[pd.DataFrame, str]:
    """The display table and sentence of :func:`profile_windows` from ``WindowsResult.district`` rows."""
    table = pd.DataFrame({
        "Window": rows["window"], "Indicators": rows["indicators"],
        "Rank among ranked (90% interval)": [
            f"{r:.0f} of {n} ({lo:.0f}-{hi:.0f})" if np.isfinite(r) else "not ranked"
            for r, n, lo, hi in zip(rows["rank"], rows["n_ranked"], rows["rank_lo"], rows["rank_hi"],
                                    strict=True)],
        f"P(top {top_n})": rows["p_top"],
    })
    ranked = rows.loc[rows["p_top"].notna()]
    if ranked.empty:
        first = " and ".join(f"FY{c}" for c in cohorts)
        return table, (f"The district is not ranked in any window: the ranking covers the Alliance Districts "
                       f"first designated in {first} with at least two indicators of their own.")
    likely = ranked.loc[ranked["p_top"] > 0.5, "window"].tolist()
    if likely:
        sentence = (f"The district is more likely than not among the top {top_n} improvers in "
                    f"{name_list(likely)}.")
    else:
        sentence = f"In no window is the district more likely than not among the top {top_n} improvers."
    return table, sentence


def glue_profile(panel: pd.DataFrame, district_code: str, window_start: int, window_end: int,
                 later_windows: Sequence[Sequence[int]], n_boot: int, seed: int) -> None:
    """Glue a profile's improvement section: ``tbl_profile_improvement`` and ``profile_improvement_text``."""
    table, sentence = profile_windows(panel, district_code, window_start, window_end, later_windows,
                                      n_boot=n_boot, seed=seed)
    display.glue_table("tbl_profile_improvement", table)
    display.glue("profile_improvement_text", sentence)
