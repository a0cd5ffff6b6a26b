"""Tests of alliance_study.data.memo (results shared by the runs of a book build) and its use by the profiles'
improvement windows: computed once per key, the same table for every caller, a new key for any changed input,
one computation when two processes ask at once, and profile pages identical with and without the memo."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.book import runner
from alliance_study.chapters import improvement as chapter
from alliance_study.data import memo

WINDOWS = [[2016, 2019], [2019, 2025, 2]]


class Counter:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame, self.calls = frame, 0

    def __call__(self) -> pd.DataFrame:
        self.calls += 1
        return self.frame


@pytest.fixture
def frame():
    return pd.DataFrame({"district_code": ["0010011", "0020011"], "p_top": [0.125, np.nan],
                         "in_top": [True, False], "n": [30, 30]})


def test_without_a_memo_directory_every_call_computes(frame, monkeypatch):
    monkeypatch.delenv(memo.MEMO_ENV, raising=False)
    compute = Counter(frame)
    memo.memo_frame("demo", {"seed": 1}, compute)
    memo.memo_frame("demo", {"seed": 1}, compute)
    assert compute.calls == 2


def test_computed_once_and_every_caller_gets_the_stored_table(frame, tmp_path, monkeypatch):
    monkeypatch.setenv(memo.MEMO_ENV, str(tmp_path))
    compute = Counter(frame)
    first = memo.memo_frame("demo", {"seed": 1}, compute)
    second = memo.memo_frame("demo", {"seed": 1}, compute)
    assert compute.calls == 1
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first, frame)
    assert [p.suffix for p in sorted(tmp_path.iterdir())] == [".lock", ".parquet"]  # no partial file left


def test_any_changed_input_is_another_key(frame, tmp_path):
    compute = Counter(frame)
    memo.memo_frame("demo", {"seed": 1, "panel": memo.frame_digest(frame)}, compute, tmp_path)
    memo.memo_frame("demo", {"seed": 2, "panel": memo.frame_digest(frame)}, compute, tmp_path)
    changed = frame.assign(p_top=[0.125, 0.5])
    memo.memo_frame("demo", {"seed": 1, "panel": memo.frame_digest(changed)}, compute, tmp_path)
    memo.memo_frame("other", {"seed": 1, "panel": memo.frame_digest(frame)}, compute, tmp_path)
    assert compute.calls == 4
    memo.memo_frame("demo", {"panel": memo.frame_digest(frame.copy()), "seed": 1}, compute, tmp_path)
    assert compute.calls == 4  # the same content and parts in another order: the same key


def test_frame_digest_sees_values_dtypes_columns_and_index(frame):
    base = memo.frame_digest(frame)
    assert memo.frame_digest(frame.copy()) == base
    assert memo.frame_digest(frame.assign(n=frame["n"].astype(float))) != base
    assert memo.frame_digest(frame.rename(columns={"n": "m"})) != base
    assert memo.frame_digest(frame.set_axis([5, 6])) != base
    assert memo.frame_digest(frame.assign(district_code=["0010011", "0020012"])) != base


def test_code_digest_changes_with_a_module(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("X = 1\n")
    before = memo.code_digest(package)
    (package / "a.py").write_text("X = 2\n")
    assert memo.code_digest(package) != before


def _compute_in_process(directory: str, log: str) -> None:
    def compute() -> pd.DataFrame:
        with open(log, "a") as handle:
            handle.write("computed\n")
        time.sleep(0.5)  # long enough for the other process to reach the lock meanwhile
        return pd.DataFrame({"x": [1.0, 2.0]})

    memo.memo_frame("shared", {"seed": 3}, compute, directory)


def test_two_processes_asking_at_once_compute_once(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_compute_in_process, args=(str(tmp_path / "memo"), str(log)))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert log.read_text() == "computed\n"


@pytest.fixture(scope="module")
def panel():
    frame, _ = simulate.improvement_panel(improvement=0.4, n_missing_graduation=2,
                                          years=tuple(range(2008, 2026)), seed=31)
    return frame


def test_profile_windows_are_the_same_with_and_without_the_memo(panel, tmp_path, monkeypatch):
    ranked = sorted(panel.loc[panel["alliance_cohort"] == 2013, "district_code"].unique())
    codes = [ranked[0], ranked[-1], panel.loc[panel["alliance_cohort"].isna(), "district_code"].iloc[0]]
    monkeypatch.delenv(memo.MEMO_ENV, raising=False)
    fresh = [chapter.profile_windows(panel, c, 2013, 2016, WINDOWS, n_boot=60, seed=4) for c in codes]
    calls = []
    run_windows = chapter.im.run_windows
    monkeypatch.setattr(chapter.im, "run_windows", lambda *a, **k: calls.append(1) or run_windows(*a, **k))
    monkeypatch.setenv(memo.MEMO_ENV, str(tmp_path))
    memoised = [chapter.profile_windows(panel, c, 2013, 2016, WINDOWS, n_boot=60, seed=4) for c in codes]
    assert len(calls) == 1  # one computation for every ranked district; the unranked one needs none
    for (table_a, text_a), (table_b, text_b) in zip(fresh, memoised, strict=True):
        assert text_a == text_b
        assert table_a.to_markdown() == table_b.to_markdown()
        pd.testing.assert_frame_equal(table_a, table_b)
    chapter.profile_windows(panel, ranked[1], 2013, 2016, WINDOWS, n_boot=61, seed=4)
    assert len(calls) == 2  # other draws: another key


def test_runner_gives_kernels_the_memo_directory(tmp_path):
    env = runner._kernel_env(tmp_path / "reads.txt", tmp_path / "memo")
    assert env[memo.MEMO_ENV] == str(tmp_path / "memo")
    assert memo.MEMO_ENV not in runner._kernel_env(tmp_path / "reads.txt", None)


def test_process_cpu_seconds_counts_this_process():
    before = runner.process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert runner.process_cpu_seconds(os.getpid()) - before >= 0.2
    assert runner.process_cpu_seconds(2**22 + 12345) == 0.0  # no such process


def test_clean_book_removes_the_main_books_memo(tmp_path, monkeypatch):
    book = tmp_path / "book"
    book.mkdir()
    (tmp_path / runner.MEMO_DIR).mkdir(parents=True)
    (tmp_path / runner.MEMO_DIR / "x.parquet").write_bytes(b"")
    monkeypatch.setattr(runner, "BOOK_DIR", book)
    monkeypatch.setattr(runner.paths, "PROJECT_ROOT", tmp_path)
    variant = tmp_path / "variants" / "v"
    variant.mkdir(parents=True)
    runner.clean_book(variant)
    assert (tmp_path / runner.MEMO_DIR).exists()  # a variant's clean leaves the main memo alone
    assert Path(tmp_path / runner.MEMO_DIR) in runner.clean_book(book)
    assert not (tmp_path / runner.MEMO_DIR).exists()
