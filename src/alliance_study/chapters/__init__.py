"""The chapter layer: analysis results -> what a book page shows.

One module per chapter turns results into glued facts, display tables, figures and verdict sentences, so a
notebook is a few calls (``from alliance_study.chapters import trends as chapter``). What the chapters share:
:mod:`~alliance_study.chapters.display` (glue, the house plotting style, markdown tables, the small-multiples
grid with its one legend) and :mod:`~alliance_study.chapters.labels` (measure and group labels). Chapter
modules are unit-tested without papermill (``tests/test_chapters_<name>.py``).
"""
