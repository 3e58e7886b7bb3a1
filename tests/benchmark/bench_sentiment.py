"""Speed and agreement of :func:`process.sentiment.score_texts` against vaderSentiment 3.3.2.

Run from the repository root: ``.venv/bin/python tests/benchmark/bench_sentiment.py``.
Scores the human-rated real-world corpus vendored in ``tests/data/sentiment_text`` with both
implementations in the same process, alternating rounds so that both see the same machine
load, and prints one JSON object: texts per second of each (best round,
wall clock; also per CPU second, all threads counted, which a busy machine disturbs less),
the speed ratios, label agreement (pos/neu/neg by compound >= 0.05 / <= -0.05), the mean
and largest absolute difference of every score, and how many texts agree to 1e-9 in all
four.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from process.sentiment import SCORES, score_texts  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "sentiment_text"


def load_corpus(directory: Path) -> list[str]:
    files = sorted(directory.glob("*GroundTruth.txt"))
    if not files:
        raise SystemExit(f"no *GroundTruth.txt under {directory}: the corpus is missing")
    texts = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(line.split("\t", 2)[2])
    return texts


def labels(compound: np.ndarray) -> np.ndarray:
    return np.where(compound >= 0.05, 1, np.where(compound <= -0.05, -1, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = load_corpus(args.corpus)
    series = pl.Series("text", texts)
    analyzer = SentimentIntensityAnalyzer()
    score_texts(series.head(100))  # load the lexicon tables once, as a worker would

    ref_times, our_times, ref_cpu, our_cpu = [], [], [], []
    reference: list[dict[str, float]] = []
    ours = pl.DataFrame()
    for _ in range(args.rounds):
        start, cpu = time.perf_counter(), time.process_time()
        reference = [analyzer.polarity_scores(text) for text in texts]
        ref_times.append(time.perf_counter() - start)
        ref_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        ours = score_texts(series)
        our_times.append(time.perf_counter() - start)
        our_cpu.append(time.process_time() - cpu)

    diffs = {}
    exact = np.ones(len(texts), dtype=bool)
    for name in SCORES:
        expected = np.array([scores[name] for scores in reference])
        got = ours.get_column(name).to_numpy()
        diff = np.abs(expected - got)
        exact &= diff <= 1e-9
        diffs[name] = {"mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}
    expected_compound = np.array([scores["compound"] for scores in reference])
    agreement = labels(expected_compound) == labels(ours.get_column("compound").to_numpy())
    ref_rate = len(texts) / min(ref_times)
    our_rate = len(texts) / min(our_times)
    report = {
        "texts": len(texts),
        "rounds": args.rounds,
        "polars_threads": pl.thread_pool_size(),
        "cpus": os.cpu_count(),
        "reference_texts_per_s": round(ref_rate),
        "ours_texts_per_s": round(our_rate),
        "speed_ratio": round(our_rate / ref_rate, 2),
        "cpu_ratio": round(min(ref_cpu) / min(our_cpu), 2),
        "ratio_per_round_median": round(float(np.median(np.divide(ref_times, our_times))), 2),
        "label_agreement": float(agreement.mean()),
        "compound_mae": diffs["compound"]["mean_abs_diff"],
        "exact_1e-9": int(exact.sum()),
        "scores": diffs,
    }
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
