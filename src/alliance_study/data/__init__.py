"""The data layer: raw files in, the district-year panel out.

Data flow one way through this package: :mod:`~alliance_study.data.registry` (the raw files the project reads,
fetched and verified by sha256) -> :mod:`~alliance_study.data.sources` (one reader per source family) ->
:mod:`~alliance_study.data.panel` (the district-year panel, validated by :mod:`~alliance_study.data.schema`
and written atomically to ``data/processed``) -> :mod:`~alliance_study.data.load` (how chapters read it back).
Only this layer, the book layer and the CLI touch the disk.
"""
