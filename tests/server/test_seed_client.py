"""The client code of "Getting Started With Embeddings" run unchanged against
`sembed serve`.

With the reference material (SEMBED_SHARED) the code blocks are read from
the seed document at run time and executed in order, with only `api_url`
pointed at the local server (its path, /pipeline/feature-extraction/{model_id},
is the seed's own) and the seed's `hf_token` as the server's API key. The
synthetic all-MiniLM-L6-v2 answers, so the FAQs give a 13 x 384 list. Blocks
that need libraries absent here (datasets, sentence-transformers) are
replaced by equivalents, said so in the output. Without the reference
material the same calls run against the tiny model with texts of our own.

Then: the embeddings.csv written by pandas reads back exactly; the vectors
equal `sembed embed`'s bit for bit; the query's top 5 from POST /search
(over embeddings.csv, and over a store) equal `sembed search`'s, and the
semantic_search equivalent's.
"""
import io
import json
import os
import re
import sys
import tempfile
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import (SHARED, Checks, Server, f32, json_lines_floats, model_dir,  # noqa: E402
                       requests, run_cli, skip)

try:
    import numpy as np
    import pandas as pd
except ImportError:
    skip("/usr/bin/python3 lacks numpy or pandas (apt-get install python3-numpy python3-pandas)")

c = Checks("seed client")
SEED = os.path.join(SHARED, "seed", "getting-started-with-embeddings.md") if SHARED else ""
use_seed = bool(SEED) and os.path.isfile(SEED) and model_dir("minilm")
MODEL = model_dir("minilm") if use_seed else model_dir("tiny")
if not MODEL:
    skip("no test model (CTest fixtures tiny_models / minilm_model)")


def semantic_search(query_embeddings, corpus_embeddings, top_k=10):
    """Cosine top-k as sentence_transformers.util.semantic_search computes it
    (normalize, dot product, best first), for the block that imports it."""
    q = np.asarray(query_embeddings, dtype=np.float32)
    m = np.asarray(corpus_embeddings, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    scores = q @ m.T
    out = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:top_k]
        out.append([{"corpus_id": i, "score": float(row[i])} for i in order])
    return out


# Stand-ins for the blocks whose libraries are not installed here.
SUBSTITUTES = {
    "datasets": "dataset_embeddings = torch.from_numpy("
                "pd.read_csv('embeddings.csv').to_numpy()).to(torch.float)",
    "sentence_transformers": "hits = semantic_search(query_embeddings, dataset_embeddings, "
                             "top_k=5)",
}


def torch_or_shim():
    try:
        import torch
        return torch
    except ImportError:
        print("note: torch is not installed: using a numpy stand-in for torch.FloatTensor")

        class Shim:
            float = np.float32

            @staticmethod
            def FloatTensor(x):
                return np.asarray(x, dtype=np.float32)

            class _T(np.ndarray):
                def to(self, dtype):
                    return np.asarray(self, dtype=dtype)

            @staticmethod
            def from_numpy(a):
                return np.asarray(a).view(Shim._T)
        return Shim


def run_seed(workdir):
    """Executes the seed's code blocks; returns (namespace, faq_output, printed)."""
    md = open(SEED, encoding="utf-8").read()
    blocks = re.findall(r"```py\n(.*?)```", md, re.S)
    ns = {"semantic_search": semantic_search}
    exec(blocks[0], ns)  # model_id, hf_token
    srv = Server(MODEL, "--served-model-name", ns["model_id"], "--api-key", ns["hf_token"],
                 "--quiet")
    faq_output = None
    printed = io.StringIO()
    try:
        for i, block in enumerate(blocks[1:], 1):
            try:
                code = compile(block, f"seed block {i}", "exec")
            except SyntaxError:
                continue  # a printout of results, not code
            if "import torch" in block:
                ns["torch"] = torch_or_shim()
                block = block.replace("import torch\n", "")
                code = compile(block, f"seed block {i}", "exec")
            try:
                with redirect_stdout(printed):
                    exec(code, ns)
            except ModuleNotFoundError as e:
                sub = SUBSTITUTES.get(e.name)
                if not sub:
                    raise
                print(f"note: seed block {i} needs {e.name} (not installed): running `{sub}`")
                exec(sub, ns)
            if "api_url" in block and "def " not in block:
                seed_url = ns["api_url"]
                ns["api_url"] = seed_url.replace("https://api-inference.huggingface.co", srv.url)
                c.ok(ns["api_url"].endswith("/pipeline/feature-extraction/" + ns["model_id"]),
                     f"api_url keeps the seed's path: {ns['api_url']}")
            if "texts = [" in block:
                faq_output = ns["output"]
        c.eq(srv.stop(), 0, "server exit status")
    finally:
        srv.kill()
    return ns, faq_output, printed.getvalue()


def run_own(workdir):
    """The same calls without the seed document: the tiny model, our texts."""
    texts = ["The cat sits on the mat.", "Stocks fell sharply today.", "A kitten naps on a rug.",
             "Interest rates were raised.", "Dogs like to play fetch.", "Bonds rallied."]
    srv = Server(MODEL, "--served-model-name", "org/tiny", "--api-key", "tok", "--quiet")
    try:
        api_url = f"{srv.url}/pipeline/feature-extraction/org/tiny"
        headers = {"Authorization": "Bearer tok"}

        def query(t):
            r = requests.post(api_url, headers=headers,
                              json={"inputs": t, "options": {"wait_for_model": True}})
            return r.json()
        output = query(texts)
        pd.DataFrame(output).to_csv("embeddings.csv", index=False)
        question = ["A cat is sleeping."]
        q = query(question)
        hits = semantic_search(q, pd.read_csv("embeddings.csv").to_numpy(), top_k=5)
        c.eq(srv.stop(), 0, "server exit status")
    finally:
        srv.kill()
    return {"texts": texts, "question": question, "hits": hits, "output": q}, output, ""


def search_checks(workdir, ns, faq_output, dim):
    texts, question = ns["texts"], ns["question"]
    with open("faqs.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    want_ids = [h["corpus_id"] for h in ns["hits"][0]]

    # The CLI over the same embeddings.csv.
    _, out, _ = run_cli("search", "--model", MODEL, "--corpus", "embeddings.csv", "--texts",
                        "faqs.txt", "--query", question[0], "--top-k", 5, "--json")
    cli = json.loads(out)
    cli = cli[0] if cli and isinstance(cli[0], list) else cli
    with Server(MODEL, "--corpus", "embeddings.csv", "--texts", "faqs.txt", "--quiet") as srv:
        r = requests.post(srv.url + "/search", json={"query": question[0], "top_k": 5})
        c.eq(r.status_code, 200, "/search status")
        got = r.json()
        c.ok(isinstance(got, list) and len(got) == 1 and len(got[0]) == 5,
             "/search shape [[5 hits]]")
        hits = got[0]
        ids = [h["corpus_id"] for h in hits]
        c.eq(ids, [h["corpus_id"] for h in cli], "/search top 5 == `sembed search` top 5")
        c.eq([f32(h["score"]) for h in hits], [f32(h["score"]) for h in cli],
             "/search scores == `sembed search` scores (float32)")
        c.eq(ids, want_ids, "/search top 5 == semantic_search over the CSV")
        c.ok(all(abs(h["score"] - w["score"]) < 1e-5 for h, w in zip(hits, ns["hits"][0])),
             "/search scores == semantic_search scores (1e-5)")
        c.eq([h["text"] for h in hits], [texts[i] for i in ids], "/search texts")
        r = requests.post(srv.url + "/search", json={"query": question})
        c.eq(len(r.json()[0]), min(10, len(texts)), "/search default top_k is 10")
        c.eq(srv.stop(), 0, "server exit status")
        print("top 5 for", repr(question[0]), ":", [(h["corpus_id"], round(h["score"], 4))
                                                     for h in hits])

    # The same corpus as a store.
    st, _, err = run_cli("index", "add", "--db", "faq.db", "--model", MODEL, "--input",
                         "faqs.txt", check=False)
    if st != 0:
        c.ok(False, f"sembed index add: {err.decode()[-300:]}")
        return
    _, out, _ = run_cli("search", "--db", "faq.db", "--model", MODEL, "--query", question[0],
                        "--top-k", 5, "--json")
    cli = json.loads(out)
    cli = cli[0] if cli and isinstance(cli[0], list) else cli
    with Server(MODEL, "--db", "faq.db", "--quiet") as srv:
        r = requests.post(srv.url + "/search", json={"query": question[0], "top_k": 5})
        hits = r.json()[0]
        c.eq([h["corpus_id"] for h in hits], [h["corpus_id"] for h in cli],
             "--db: /search top 5 == `sembed search --db`")
        c.eq([f32(h["score"]) for h in hits], [f32(h["score"]) for h in cli],
             "--db: scores == `sembed search --db`")
        c.eq([h["corpus_id"] for h in hits], want_ids, "--db: top 5 == semantic_search")
        c.eq([h["text"] for h in hits], [texts[h["corpus_id"]] for h in hits], "--db: texts")
        c.eq(srv.stop(), 0, "server exit status")


def main():
    workdir = tempfile.mkdtemp(prefix="sembed-seed-")
    os.chdir(workdir)
    if use_seed:
        print(f"running the seed's code blocks from {SEED} against {MODEL}")
        ns, faq_output, printed = run_seed(workdir)
    else:
        print(f"reference material absent: the seed's calls with our own texts on {MODEL}")
        ns, faq_output, printed = run_own(workdir)
    dim = json.load(open(os.path.join(MODEL, "config.json")))["hidden_size"]
    texts = ns["texts"]
    c.ok(isinstance(faq_output, list) and len(faq_output) == len(texts)
         and all(isinstance(v, list) and len(v) == dim for v in faq_output),
         f"the FAQs give a {len(texts)} x {dim} list")
    if use_seed:
        c.eq((len(faq_output), len(faq_output[0])), (13, 384), "13 x 384, as in the seed")
        c.ok(len(ns["query_embeddings"]) == 1, "the query gives one vector (a [[384]] list)")
        c.ok(printed.count("Medicare") >= 5 or "TRICARE" in printed,
             "the seed's last block prints the top FAQs")
    # embeddings.csv: pandas' header 0..dim-1, no index, values read back exactly.
    back = pd.read_csv("embeddings.csv")
    c.eq(list(back.columns), [str(i) for i in range(dim)], "CSV header 0..dim-1")
    c.ok(back.to_numpy().tolist() == faq_output, "embeddings.csv round-trips exactly")
    # The server's vectors are the CLI's, bit for bit.
    _, out, _ = run_cli("embed", "--model", MODEL, "--output-format", "jsonl",
                        input=("\n".join(texts) + "\n").encode())
    cli = json_lines_floats(out)
    c.ok([[f32(x) for x in v] for v in cli] == [[f32(x) for x in v] for v in faq_output],
         "server vectors == `sembed embed` vectors (float32, bit-exact)")
    search_checks(workdir, ns, faq_output, dim)
    c.finish()


if __name__ == "__main__":
    main()
