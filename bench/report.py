#!/usr/bin/env python3
"""Table of sembed against ONNX Runtime from a results.jsonl that the peer
harness and `sembed bench --json` appended to (bench/run.sh does both).

  bench/report.py RESULTS.jsonl [THREADS]

For each (peer, workload) the least-contended row is kept, as the harness's
make_table.py does. Ratios are sembed / ORT sentences per second (for the
latency workload, ORT latency / sembed latency). Standard library only.
"""
import json
import os
import sys

WL = [("a_faq13", "(a) FAQ 13"), ("b_short1024", "(b) 1024x16"), ("c_len128", "(c) 256x128"),
      ("d_len256", "(d) 64x256"), ("e_latency1", "(e) latency"), ("f_mixed", "(f) mixed 1275")]


def main():
    path = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    best = {}
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        if int(r.get("threads", -1)) != threads:
            continue
        k = (r["peer"], r["workload"])
        if k not in best or r.get("foreign_cpu", 0) <= best[k].get("foreign_cpu", 0) + 0.02:
            best[k] = r
    peers = sorted({p for p, _ in best}, key=lambda p: (not p.startswith("ort"), p))
    wls = [(w, h) for w, h in WL if any(k[1] == w for k in best)]
    # The machine line: the harness's env.txt beside the results (date, CPU)
    # and the kernel set each sembed row ran with.
    env = {}
    env_path = os.path.join(os.path.dirname(os.path.abspath(path)), "env.txt")
    if os.path.exists(env_path):
        for line in open(env_path):
            key, _, val = line.partition(": ")
            env.setdefault(key.strip(), val.strip())
    kernels = sorted({r["variant"] for (p, _), r in best.items()
                      if p.startswith("sembed") and r.get("variant")})
    cpu = env.get("cpu", "?")
    if cpu.endswith("avx512:"):
        cpu += " none"
    if env or kernels:
        print(f"Run: {env.get('date', '?')}; CPU: {cpu}; "
              f"sembed kernels: {', '.join(kernels) or '?'}.")
    print(f"Threads: {threads}. Cells: sentences/s (latency for (e)); [foreign CPU %].")
    print()
    print("| peer | " + " | ".join(h for _, h in wls) + " |")
    print("|---|" + "---|" * len(wls))
    for p in peers:
        cells = []
        for w, _ in wls:
            r = best.get((p, w))
            if not r:
                cells.append("-")
            elif w == "e_latency1":
                cells.append(f"{r['latency_ms']:.2f} ms [{100 * r.get('foreign_cpu', 0):.0f}]")
            else:
                cells.append(f"{r['sent_per_s']:.0f}/s [{100 * r.get('foreign_cpu', 0):.0f}]")
        print(f"| {p} | " + " | ".join(cells) + " |")
    print()
    print("Ratio to ort-all (higher is better; (e) is ORT latency / sembed latency):")
    print()
    print("| sembed | " + " | ".join(h for _, h in wls) + " |")
    print("|---|" + "---|" * len(wls))
    for p in peers:
        if not p.startswith("sembed"):
            continue
        cells = []
        for w, _ in wls:
            r, o = best.get((p, w)), best.get(("ort-all", w))
            if not r or not o:
                cells.append("-")
            elif w == "e_latency1":
                cells.append(f"{o['latency_ms'] / r['latency_ms']:.2f}x")
            else:
                cells.append(f"{r['sent_per_s'] / o['sent_per_s']:.2f}x")
        print(f"| {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
