"""The book layer: execute the notebooks (papermill), build the Jupyter Book, check the built pages.

- :mod:`~alliance_study.book.runner`: the run configuration (``params/*.yml``), cached papermill runs.
- :mod:`~alliance_study.book.record`: the run record that closes every chapter.
- :mod:`~alliance_study.book.browser_check`: the headless-Chromium check of the built book.
"""
