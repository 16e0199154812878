"""HNSW files between sembed and hnswlib's own Python bindings.

    store_hnsw_interop.py DIR DIM HELPER

DIR holds what `store_helper hnsw-export` wrote: vectors.f32, queries.f32,
c.hnsw (built by sembed) and c_results.txt (sembed's top 10 at ef 200).

1. hnswlib.Index(space='ip').load_index() reads sembed's file: the element
   count, the stored vectors (the normalized inputs) and the neighbours it
   finds at ef 200 agree with sembed's own search.
2. An index built and saved by hnswlib loads in sembed (store_helper
   hnsw-search) and gives the neighbours hnswlib gives.
"""
import subprocess
import sys

import hnswlib
import numpy as np

K, EF = 10, 200


def parse(text):
    rows = []
    for line in text.strip().split("\n"):
        rows.append([(int(a), float(b)) for a, b in (p.split(":") for p in line.split())])
    return rows


def agreement(ours, theirs_labels):
    same = sum(len({l for l, _ in o} & set(t.tolist())) for o, t in zip(ours, theirs_labels))
    return same / (len(ours) * K)


def main():
    d, dim, helper = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    x = np.fromfile(f"{d}/vectors.f32", dtype=np.float32).reshape(-1, dim)
    q = np.fromfile(f"{d}/queries.f32", dtype=np.float32).reshape(-1, dim)
    n = len(x)

    # 1. sembed's file in hnswlib.
    p = hnswlib.Index(space="ip", dim=dim)
    p.load_index(f"{d}/c.hnsw")
    assert p.get_current_count() == n, p.get_current_count()
    stored = np.array(p.get_items(list(range(n))), dtype=np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert np.abs(stored - xn).max() < 1e-6, "stored vectors differ"
    p.set_ef(EF)
    labels, dists = p.knn_query(q, k=K)
    ours = parse(open(f"{d}/c_results.txt").read())
    assert len(ours) == len(q)
    a = agreement(ours, labels)
    # Scores: sembed recomputes them exactly; hnswlib reports 1 - dot.
    worst = 0.0
    for o, l, dd in zip(ours, labels, dists):
        theirs = dict(zip(l.tolist(), (1.0 - dd).tolist()))
        for lab, s in o:
            if lab in theirs:
                worst = max(worst, abs(theirs[lab] - s))
    print(f"sembed index in hnswlib: {n} elements, neighbour agreement {a:.4f}, "
          f"max score difference {worst:.2e}")
    assert a >= 0.99, a
    assert worst < 1e-5, worst

    # 2. hnswlib's file in sembed.
    p2 = hnswlib.Index(space="ip", dim=dim)
    p2.init_index(max_elements=n, M=12, ef_construction=100, random_seed=7)
    p2.add_items(xn, np.arange(n))
    p2.save_index(f"{d}/py.hnsw")
    p2.set_ef(EF)
    labels2, _ = p2.knn_query(q, k=K)
    out = subprocess.run([helper, "hnsw-search", f"{d}/py.hnsw", str(dim), f"{d}/queries.f32",
                          str(len(q)), str(K), str(EF)], check=True, capture_output=True,
                         text=True).stdout
    a2 = agreement(parse(out), labels2)
    print(f"hnswlib index in sembed: neighbour agreement {a2:.4f}")
    assert a2 >= 0.99, a2


if __name__ == "__main__":
    main()
