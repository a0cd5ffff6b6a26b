"""Plan-coding toolkit: codebook, coding records, metrics, reliability, assisted coding, linking.

Modules
-------
codebook
    The versioned codebook (``codebook.yml``): domains, intervention types, attributes; the plan-template
    history (:data:`~alliance_study.analysis.plans.codebook.PLAN_TEMPLATES`).
records
    The coding-record format (district x plan year x intervention x coder) and its validation.
io
    Reading and writing coding sheets, reading plan documents (text, or PDF with ``pypdf``).
metrics
    Consensus across coders; persistence, focus, coupling and dual-monitoring rates per district.
reliability
    Cohen's kappa and Krippendorff's alpha, per code and overall.
assist
    Keyword (and optional sentence-embedding) code suggestions; precision and recall against hand codes.
public
    The readable public plan facts, coded with the codebook through an explicit mapping.
link
    Relating district measures to improvement on whatever coverage exists.
planfile
    The planning tool's plan file (one row per plan-year strategy with measures, targets and the coupled
    capacity-building activity): template, validation, conversion to coding records, suggestions.
assist_eval
    The keyword coder scored on every public evidence quote (precision and recall by domain with exact
    intervals, confusions, the quotes it gets wrong).

A typical session::

    from alliance_study.analysis.plans import codebook, io, metrics, reliability
    book = codebook.load_codebook()
    io.write_template("my_codes.csv", book)            # fill it in, one row per intervention
    records = io.read_records("my_codes.csv", book)    # clear errors name file, row and column
    coded = metrics.consensus(records)                 # if double-coded
    table = metrics.district_metrics(coded)
    kappa = reliability.reliability_table(records)
"""

from __future__ import annotations

from alliance_study.analysis.plans.codebook import (
    PLAN_TEMPLATES,
    Codebook,
    CodebookError,
    load_codebook,
    template_history,
)
from alliance_study.analysis.plans.records import RECORD_COLUMNS, CodingRecordError, validate_records

__all__ = [
    "PLAN_TEMPLATES",
    "RECORD_COLUMNS",
    "Codebook",
    "CodebookError",
    "CodingRecordError",
    "load_codebook",
    "template_history",
    "validate_records",
]
