"""The analysis layer: DataFrames in, numbers and result objects out; no file I/O, no prose.

- :mod:`~alliance_study.analysis.groups`: Alliance and comparison masks, standardized scores.
- :mod:`~alliance_study.analysis.describe`: descriptive summaries (trends, coverage, one district, money).
- :mod:`~alliance_study.analysis.improvement`: which districts improved more than their peers.
- :mod:`~alliance_study.analysis.impact`: difference-in-differences designs, estimators and inference.
- :mod:`~alliance_study.analysis.plans`: the plan-coding toolkit.
- :mod:`~alliance_study.analysis.focus`: fiscal and staffing focus.
"""
