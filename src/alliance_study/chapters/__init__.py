"""The chapter layer: analysis results -> what a book page shows.

One module per chapter turns results into glued facts, display tables, figures and verdict sentences, so a
notebook is a few calls. :mod:`~alliance_study.chapters.display` holds what chapters share (glue, the
house plotting style, markdown tables). Chapter modules are unit-tested without papermill.
"""
