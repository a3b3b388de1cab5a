"""Searching face signatures at scale: exact search in NumPy against a vector index (FAISS's
HNSW graph), on 1k, 10k and 100k stored signatures.

The signatures are synthetic but shaped like real ones: 128 numbers of unit length, in groups
of about 20 (people) whose members are as similar to each other as dlib's signatures of one
person are (a cosine of about 0.94, above the threshold). For each size: the time to load the
stored bytes into a matrix (what the archive pays per search, reading them from the
database), the exact search's time per query, the index's build time and time per query,
and the index's recall: the share of the exact search's matches above the threshold that it
also returns.

Usage: .venv/bin/python -m benchmarks.search [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from analysis.ml.embeddings import SAME_PERSON_SIMILARITY

DIMENSIONS = 128
# Up to this many neighbours are asked from the index (a person appears at most this often).
NEIGHBOURS = 64


def signatures(count: int, rng: np.random.Generator) -> np.ndarray:
    people = max(1, count // 20)
    centres = rng.normal(size=(people, DIMENSIONS)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(size=(count, DIMENSIONS)).astype(np.float32) * 0.016
    out = centres[rng.integers(0, people, count)] + noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    print(
        f"{'stored':>7} {'load ms':>8} {'exact ms/q':>11} {'build s':>8} {'index ms/q':>11} "
        f"{'recall':>7} {'matches/q':>10}"
    )
    for count in (1_000, 10_000, 100_000):
        stored = signatures(count, rng)
        rows = [row.tobytes() for row in stored]
        queries = (
            stored[rng.integers(0, count, args.queries)]
            + rng.normal(size=(args.queries, DIMENSIONS)).astype(np.float32) * 0.02
        )
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)

        started = time.perf_counter()
        matrix = np.frombuffer(b"".join(rows), dtype=np.float32).reshape(count, DIMENSIONS)
        load_ms = (time.perf_counter() - started) * 1000

        exact_ms, truth = [], []
        for query in queries:
            started = time.perf_counter()
            found = np.flatnonzero(matrix @ query >= SAME_PERSON_SIMILARITY)
            exact_ms.append((time.perf_counter() - started) * 1000)
            truth.append(set(found.tolist()))

        started = time.perf_counter()
        index = faiss.IndexHNSWFlat(DIMENSIONS, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(matrix)
        index.hnsw.efSearch = 128
        build_s = time.perf_counter() - started

        index_ms, hits, wanted = [], 0, 0
        for query, expected in zip(queries, truth, strict=True):
            started = time.perf_counter()
            similarity, ids = index.search(query[None, :], NEIGHBOURS)
            index_ms.append((time.perf_counter() - started) * 1000)
            got = {
                int(i)
                for i, s in zip(ids[0], similarity[0], strict=True)
                if s >= SAME_PERSON_SIMILARITY
            }
            hits += len(got & expected)
            wanted += len(expected)
        print(
            f"{count:>7} {load_ms:>8.1f} {statistics.median(exact_ms):>11.3f} {build_s:>8.2f} "
            f"{statistics.median(index_ms):>11.3f} {hits / max(wanted, 1):>7.3f} "
            f"{wanted / len(queries):>10.1f}"
        )


if __name__ == "__main__":
    main()
