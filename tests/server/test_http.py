"""`sembed serve` over real HTTP with the tiny model: every route's shape and
status codes, vectors equal to `sembed embed`'s, dynamic batching (merged
batches, identical results), the limits at, below and above their values
(payload, inputs per request, concurrent requests, header memory, request
deadline), HTTP framing errors, the API key, JSONTestSuite over the wire,
graceful shutdown and startup errors.
"""
import base64
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import (SHARED, SLOW, Checks, Server, f32, json_lines_floats, model_dir,  # noqa: E402
                       raw_request, requests, run_cli, skip)

TINY = model_dir("tiny")
if not TINY:
    skip("the tiny model fixture is missing (CTest fixture tiny_models)")

c = Checks("server http")
TEXTS = ["How do I get a replacement Medicare card?", "What is TRICARE ?",
         "héllo wörld – ünïcode ✓", "a", "Can I sign up for Medicare Part B if I am working?"]


def post(srv, path, body, **kw):
    if isinstance(body, (dict, list)):
        return requests.post(srv.url + path, json=body, **kw)
    return requests.post(srv.url + path, data=body, **kw)


def is_json(r):
    return r.headers.get("content-type", "").startswith("application/json")


def tei_error(r, status, etype, what):
    c.eq(r.status_code, status, f"{what}: status")
    ok = is_json(r)
    body = r.json() if ok else {}
    c.ok(ok and isinstance(body.get("error"), str) and body.get("error_type") == etype,
         f"{what}: TEI error body with error_type {etype}: {r.text[:200]}")


def routes(srv):
    r = requests.get(srv.url + "/health")
    c.eq((r.status_code, r.text), (200, ""), "GET /health")
    r = requests.get(srv.url + "/info")
    info = r.json()
    c.eq(info.get("served_model_name"), "tiny", "/info served_model_name (the folder's name)")
    c.eq(info.get("max_client_batch_size"), 4, "/info max_client_batch_size")
    c.eq(info.get("payload_limit"), 1000, "/info payload_limit")
    dim = info["embedding_dim"]
    r = requests.get(srv.url + "/metrics")
    c.ok(r.status_code == 200 and "te_request_count{method=\"embed\"}" in r.text
         and r.headers["content-type"].startswith("text/plain"), "GET /metrics")

    r = post(srv, "/embed", {"inputs": TEXTS[0]})
    v = r.json()
    c.ok(r.status_code == 200 and len(v) == 1 and len(v[0]) == dim, "/embed string: [[dim]]")
    c.ok(all(h in r.headers for h in ("x-compute-time", "x-compute-tokens", "x-queue-time",
                                      "x-inference-time")), "/embed timing headers")
    hf = srv.url + "/pipeline/feature-extraction/tiny"
    r = requests.post(hf, json={"inputs": TEXTS[0]})
    c.ok(r.status_code == 200 and len(r.json()) == dim and isinstance(r.json()[0], float),
         "HF string: 1-D")
    r = requests.post(hf, json={"inputs": TEXTS[:3], "options": {"wait_for_model": True}})
    c.ok(r.status_code == 200 and [len(x) for x in r.json()] == [dim] * 3, "HF list: 2-D")
    r = requests.post(hf, data=TEXTS[1].encode())
    c.ok(r.status_code == 200 and len(r.json()) == dim, "HF raw text body: 1-D")
    r = requests.post(hf, json={"inputs": []})
    c.eq((r.status_code, r.json()),
         (400, {"error": "The inputs are invalid, at least one input is required"}),
         "HF empty list")
    r = requests.post(srv.url + "/pipeline/feature-extraction/other", json={"inputs": "a"})
    c.ok(r.status_code == 404 and "other" in r.json()["error"], "HF other model id: 404")

    r = post(srv, "/v1/embeddings", {"input": TEXTS[:2], "model": "x"})
    o = r.json()
    c.ok(r.status_code == 200 and o["object"] == "list" and o["model"] == "tiny"
         and [d["index"] for d in o["data"]] == [0, 1]
         and all(d["object"] == "embedding" and len(d["embedding"]) == dim for d in o["data"])
         and o["usage"]["prompt_tokens"] == o["usage"]["total_tokens"] > 0, "/v1/embeddings shape")
    r = post(srv, "/v1/embeddings", {"input": TEXTS[:2], "encoding_format": "base64"})
    b = r.json()
    same = all(list(struct.unpack(f"<{dim}f", base64.b64decode(d["embedding"]))) ==
               [f32(x) for x in o["data"][i]["embedding"]] for i, d in enumerate(b["data"]))
    c.ok(same, "base64 decodes to the float output (little-endian float32)")
    r = post(srv, "/v1/embeddings", {"input": ""})
    e = r.json().get("error", {})
    c.ok(r.status_code == 400 and e.get("type") == "invalid_request_error" and "message" in e,
         "OpenAI error shape")

    r = post(srv, "/tokenize", {"inputs": "hello world"})
    toks = r.json()[0]
    c.ok(r.status_code == 200 and toks[0]["special"] and toks[-1]["special"]
         and {"id", "text", "special", "start", "stop"} <= set(toks[0]), "/tokenize shape")
    ids = [t["id"] for t in toks]
    r = post(srv, "/decode", {"ids": ids})
    c.ok(r.status_code == 200 and r.json() == ["hello world"], f"/decode round trip: {r.text}")
    r1 = post(srv, "/embed", {"inputs": ids})
    r2 = post(srv, "/embed", {"inputs": "hello world"})
    c.eq(r1.json(), r2.json(), "/embed of token ids equals /embed of the text")
    r = post(srv, "/similarity", {"inputs": {"source_sentence": "a b", "sentences": ["a b", "c"]}})
    s = r.json()
    c.ok(r.status_code == 200 and len(s) == 2 and abs(s[0] - 1) < 1e-5, "/similarity")
    r = post(srv, "/embed_all", {"inputs": ["hello world"]})
    t = r.json()
    c.ok(r.status_code == 200 and len(t[0]) == len(ids) and len(t[0][0]) == info["hidden_size"],
         "/embed_all: one vector per token")
    tei_error(post(srv, "/embed", {"inputs": []}), 400, "empty", "/embed []")
    tei_error(post(srv, "/embed", {"inputs": ["a"] * 5}), 422, "validation", "/embed 5 > 4 inputs")
    c.eq(post(srv, "/embed", {"inputs": ["a"] * 5}).json()["error"],
         "batch size 5 > maximum allowed batch size 4", "batch size message")
    for n in (3, 4):
        c.eq(post(srv, "/embed", {"inputs": ["a"] * n}).status_code, 200, f"/embed {n} inputs")
    tei_error(post(srv, "/embed", "{bad json"), 400, "syntax", "malformed JSON")
    tei_error(post(srv, "/embed", {"inputs": 5}), 422, "validation", "wrong shape")
    tei_error(post(srv, "/embed", {"inputs": [1, 10 ** 6]}), 422, "validation", "id out of range")
    tei_error(requests.get(srv.url + "/embed"), 405, "method_not_allowed", "GET /embed")
    tei_error(post(srv, "/nope", "{}"), 404, "not_found", "unknown route")
    tei_error(post(srv, "/search", {"query": "a"}), 404, "not_found", "/search without corpus")
    # Tokens per input with truncate=false, at/below/above max_seq_length.
    max_len = info["max_input_length"]
    word_ids = ids[1:-1][:1]
    for n in (max_len - 1, max_len, max_len + 1):
        seq = ids[:1] + word_ids * (n - 2) + ids[-1:]
        r = post(srv, "/embed", {"inputs": seq, "truncate": False})
        c.eq(r.status_code, 200 if n <= max_len else 422, f"{n} tokens, truncate false")
        r = post(srv, "/embed", {"inputs": seq})
        c.eq(r.status_code, 200, f"{n} tokens, truncate default")


def same_as_cli(srv):
    """The HF route (the model's own normalization, as `sembed embed`) gives
    exactly the CLI's float32 vectors; /embed (normalize=true) agrees to 1e-6."""
    _, out, _ = run_cli("embed", "--model", TINY, "--output-format", "jsonl",
                        input="\n".join(TEXTS).encode() + b"\n")
    cli = json_lines_floats(out)
    hf = requests.post(srv.url + "/pipeline/feature-extraction/tiny",
                       json={"inputs": TEXTS[:4]}).json()
    hf += requests.post(srv.url + "/pipeline/feature-extraction/tiny",
                        json={"inputs": TEXTS[4:]}).json()
    c.ok(len(cli) == len(hf) and all([f32(x) for x in a] == [f32(x) for x in b]
                                     for a, b in zip(cli, hf)),
         "HF route vectors are bit-identical to `sembed embed`")
    tei = []
    for t in TEXTS:
        tei += post(srv, "/embed", {"inputs": t}).json()
    c.ok(all(max(abs(x - y) for x, y in zip(a, b)) < 1e-6 for a, b in zip(cli, tei)),
         "/embed vectors equal `sembed embed` within 1e-6")
    return cli


def payload_limit(srv):
    """--payload-limit 1000: bodies of 999 and 1000 bytes pass, 1001 is 413."""
    for n in (999, 1000, 1001):
        body = b'{"inputs":"a"}'
        body += b" " * (n - len(body))
        r = requests.post(srv.url + "/embed", data=body)
        if n <= 1000:
            c.eq(r.status_code, 200, f"{n}-byte body")
        else:
            tei_error(r, 413, "payload_too_large", f"{n}-byte body")

        def chunks(data=body):
            for i in range(0, len(data), 100):
                yield data[i:i + 100]
        try:
            r = requests.post(srv.url + "/embed", data=chunks())  # chunked encoding
            got = r.status_code
        except requests.exceptions.ConnectionError:
            got = None
        c.eq(got, 200 if n <= 1000 else 413, f"{n}-byte chunked body")
    r = requests.post(srv.url + "/pipeline/feature-extraction/tiny", data=b"x" * 5000)
    c.ok(r.status_code == 413 and "error" in r.json(), "HF route 413 in HF's shape")
    c.eq(requests.get(srv.url + "/health").status_code, 200, "healthy after 413s")


def framing(srv):
    p = srv.port
    st, _, _ = raw_request(p, b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" b'e\r\n{"inputs":"a"}\r\n0\r\n\r\n')
    c.eq(st, 400, "Content-Length with Transfer-Encoding")
    for cl in (b"-1", b"abc", b"+14", b"1e3", b"0x10", b"18446744073709551616"):
        st, _, _ = raw_request(p, b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl +
                               b"\r\n\r\n" + b'{"inputs":"a"}')
        c.ok(st in (400, 413), f"Content-Length {cl!r}: 400 (got {st})")
    st, _, _ = raw_request(p, b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n"
                              b"Content-Length: 15\r\n\r\n" + b'{"inputs":"a"}')
    c.ok(st in (400, None), f"two differing Content-Length: refused (got {st})")
    for te in (b"gzip", b"chunked, chunked", b"chunkedx"):
        st, _, _ = raw_request(p, b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                               b'\r\n\r\ne\r\n{"inputs":"a"}\r\n0\r\n\r\n')
        c.ok(st in (400, 501, None), f"Transfer-Encoding {te!r}: refused (got {st})")
    st, _, _ = raw_request(p, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 +
                           b"\r\n\r\n")
    c.eq(st, 200, "a 3000-byte header (under --max-header-bytes 8192)")
    st, _, _ = raw_request(p, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 +
                           b"\r\n\r\n")
    c.ok(st in (413, 431, 400, None), f"a 9000-byte header: refused (got {st})")
    st, _, _ = raw_request(p, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    c.ok(st in (414, 413, 431, 400, None), f"a 9000-byte request line: refused (got {st})")
    st, _, _ = raw_request(p, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n")
    c.ok(st in (400, 505), f"HTTP/9.9: refused (got {st})")
    st, _, _ = raw_request(p, b"GET /health HTTP/1.1\r\n\r\n")
    c.eq(st, 400, "HTTP/1.1 without Host")
    # Two pipelined requests on one connection are both answered, in order.
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    req = b'POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{"inputs":"a"}'
    s.sendall(req + req.replace(b'"a"', b'"b"'))
    data = b""
    deadline = time.time() + 10 * SLOW
    while data.count(b"HTTP/1.1 200") < 2 and time.time() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    c.eq(data.count(b"HTTP/1.1 200"), 2, "two pipelined requests answered")
    c.eq(requests.get(srv.url + "/health").status_code, 200, "healthy after framing errors")


def deadlines(srv, timeout):
    """A request must arrive whole within --request-timeout: a client that
    dribbles its headers or body is cut off, and others are served meanwhile."""
    p = srv.port
    slow_head = socket.create_connection(("127.0.0.1", p))
    slow_head.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\n")
    slow_body = socket.create_connection(("127.0.0.1", p))
    slow_body.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    silent = socket.create_connection(("127.0.0.1", p))
    t0 = time.time()
    closed = {}

    def dribble(name, s, byte):
        s.settimeout(0.3)
        while time.time() - t0 < timeout * 3 + 5:
            try:
                s.sendall(byte)
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        closed[name] = time.time() - t0
    threads = [threading.Thread(target=dribble, args=("head", slow_head, b"X")),
               threading.Thread(target=dribble, args=("body", slow_body, b" ")),
               threading.Thread(target=dribble, args=("silent", silent, b""))]
    for t in threads:
        t.start()
    served = 0
    while any(t.is_alive() for t in threads):
        if post(srv, "/embed", {"inputs": "a"}).status_code == 200:
            served += 1
        time.sleep(0.1)
    for t in threads:
        t.join()
    for name in ("head", "body", "silent"):
        c.ok(closed.get(name, 1e9) <= timeout + 2.5 * SLOW,
             f"slow {name} client closed within the {timeout} s deadline "
             f"(after {closed.get(name, 0):.1f} s)")
    c.ok(served > 5, f"other clients served meanwhile ({served} requests)")


def batching(cli):
    """Concurrent requests are merged into batches; each result equals the
    text embedded alone, with one batch worker or two."""
    for workers in (1, 2):
        with Server(TINY, "--debug-batch-delay-ms", int(300 * SLOW), "--workers", workers,
                    "--quiet") as srv:
            hf = srv.url + "/pipeline/feature-extraction/tiny"
            results = {}

            def one(i):
                results[i] = requests.post(hf, json={"inputs": [TEXTS[i % len(TEXTS)]]}).json()[0]
            threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            c.ok(all(results[i] == cli[i % len(TEXTS)] for i in range(10)),
                 f"{workers} worker(s): each concurrent vector equals the text embedded alone")
            m = requests.get(srv.url + "/metrics").text
            batches = int([ln for ln in m.splitlines()
                           if ln.startswith("sembed_batches_total")][0].split()[1])
            c.ok(batches < 10, f"{workers} worker(s): 10 concurrent requests ran in {batches} "
                               "batches")
            c.eq(srv.stop(), 0, "exit status after SIGTERM")


def connections_and_idle():
    """--max-connections 8: with 7 other connections open a client is served,
    with 8 open a new connection waits unaccepted until one closes;
    --idle-timeout 2: an idle keep-alive connection is closed after 2 s, not
    before."""
    limit, idle = 8, 2
    with Server(TINY, "--max-connections", limit, "--quiet") as srv:
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(limit - 1)]
        time.sleep(0.2 * SLOW)
        st, _, _ = raw_request(srv.port, req)
        c.eq(st, 200, f"a client with {limit - 1} other connections open")
        held.append(socket.create_connection(("127.0.0.1", srv.port)))
        time.sleep(0.2 * SLOW)
        waiting = socket.create_connection(("127.0.0.1", srv.port), timeout=1.0)
        waiting.sendall(req)
        try:
            early = waiting.recv(4096)
        except socket.timeout:
            early = None
        c.eq(early, None, f"a connection beyond {limit} waits (not accepted)")
        for h in held:
            h.close()
        waiting.settimeout(10 * SLOW)
        try:
            late = waiting.recv(4096)
        except socket.timeout:
            late = b""
        waiting.close()
        c.ok(late.startswith(b"HTTP/1.1 200"), "the waiting connection is served once others close")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")
    with Server(TINY, "--idle-timeout", idle, "--quiet") as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        s.sendall(req)
        s.recv(4096)
        t0 = time.time()
        try:
            gone = s.recv(4096) == b""
        except (ConnectionResetError, socket.timeout):
            gone = False
        took = time.time() - t0
        s.close()
        c.ok(gone and idle - 0.5 <= took <= idle + 2.5 * SLOW,
             f"idle keep-alive connection closed after {idle} s (after {took:.1f} s)")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")


def batch_budget(cli):
    """--max-batch-tokens 64 (the tiny model's max_seq_length): a request
    of 4 long inputs is split over several batches, each vector unchanged.
    A budget under max_seq_length cuts inputs to it (--auto-truncate)."""
    long_texts = [" ".join([t] * 12) for t in TEXTS[:4]]
    _, out, _ = run_cli("embed", "--model", TINY, "--output-format", "jsonl",
                        input=("\n".join(long_texts) + "\n").encode())
    alone = json_lines_floats(out)
    with Server(TINY, "--max-batch-tokens", 64, "--quiet") as srv:
        r = requests.post(srv.url + "/pipeline/feature-extraction/tiny",
                          json={"inputs": long_texts})
        c.ok(r.status_code == 200 and r.json() == alone,
             "inputs split over batches equal `sembed embed`'s")
        m = requests.get(srv.url + "/metrics").text
        batches = int([ln for ln in m.splitlines() if ln.startswith("sembed_batches_total")][0]
                      .split()[1])
        c.ok(batches >= 4, f"4 inputs of 64 tokens under a 64-token budget: {batches} batches")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")
    with Server(TINY, "--max-batch-tokens", 32, "--quiet") as srv:
        c.eq(requests.get(srv.url + "/info").json()["max_input_length"], 32,
             "a budget under max_seq_length cuts inputs to it")
        r = post(srv, "/embed", {"inputs": long_texts[0], "truncate": False})
        c.eq(r.status_code, 422, "an input over the cut length with truncate false")
        c.eq(post(srv, "/embed", {"inputs": long_texts[0]}).status_code, 200, "truncated")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")


def concurrency_limit():
    """--max-concurrent-requests 3, batches held 800 ms: 2 and 3 concurrent
    requests all pass, of 4 exactly one gets 429."""
    with Server(TINY, "--max-concurrent-requests", 3, "--debug-batch-delay-ms",
                int(800 * SLOW), "--quiet") as srv:
        for n in (2, 3, 4):
            statuses = []
            bodies = []
            barrier = threading.Barrier(n)

            def one():
                barrier.wait()
                r = post(srv, "/embed", {"inputs": "a"})
                statuses.append(r.status_code)
                bodies.append(r.json())
            threads = [threading.Thread(target=one) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            want = [200] * n if n <= 3 else [200, 200, 200, 429]
            c.eq(sorted(statuses), want, f"{n} concurrent requests under a limit of 3")
            if n == 4:
                c.ok({"error": "Model is overloaded", "error_type": "overloaded"} in bodies,
                     "429 body is TEI's")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")


def api_key():
    with Server(TINY, "--api-key", "s3cret", "--quiet") as srv:
        r = post(srv, "/embed", {"inputs": "a"})
        c.ok(r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer",
             "no key: 401 with WWW-Authenticate")
        for h in ("Bearer wrong", "bearer s3cret", "Bearer s3cret ", "s3cret"):
            c.eq(post(srv, "/embed", {"inputs": "a"}, headers={"Authorization": h}).status_code,
                 401, f"Authorization {h!r}")
        c.eq(requests.post(srv.url + "/embed?api_key=s3cret", json={"inputs": "a"}).status_code,
             401, "key as a query parameter")
        c.eq(post(srv, "/embed", {"inputs": "a"},
                  headers={"Authorization": "Bearer s3cret"}).status_code, 200, "right key")
        c.eq(requests.get(srv.url + "/health").status_code, 200, "/health open")
        c.eq(requests.get(srv.url + "/metrics").status_code, 200, "/metrics open")
        c.eq(requests.get(srv.url + "/info").status_code, 401, "/info needs the key")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")


def json_suite():
    d = os.path.join(SHARED, "data", "JSONTestSuite", "test_parsing")
    if not SHARED or not os.path.isdir(d):
        print("note: JSONTestSuite over HTTP skipped (SEMBED_SHARED not available)")
        return
    with Server(TINY, "--quiet") as srv:
        json_suite_on(srv, d)
        c.eq(srv.stop(), 0, "exit status after SIGTERM")


def json_suite_on(srv, d):
    counts = {"y": 0, "n": 0, "i": 0}
    bad = []
    with requests.Session() as s:
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json") or name[1] != "_":
                continue
            body = open(os.path.join(d, name), "rb").read()
            r = s.post(srv.url + "/embed", data=body)
            kind = name[0]
            counts[kind] += 1
            if (kind == "y" and r.status_code == 400) or (kind == "n" and r.status_code != 400):
                bad.append(f"{name}: {r.status_code}")
            elif kind == "i" and r.status_code not in (200, 400, 422):
                bad.append(f"{name}: {r.status_code}")
    c.ok(not bad, f"JSONTestSuite over HTTP: {bad[:5]}")
    print(f"JSONTestSuite over HTTP: {counts['y']} y_ accepted, {counts['n']} n_ refused with 400,"
          f" {counts['i']} i_ answered")
    c.eq(requests.get(srv.url + "/health").status_code, 200, "healthy after JSONTestSuite")


def shutdown():
    """SIGTERM with a request in flight: it completes, new connections are
    refused, exit 0. A second signal exits at once with status 1."""
    with Server(TINY, "--debug-batch-delay-ms", int(1000 * SLOW)) as srv:
        result = {}

        def slow():
            result["r"] = post(srv, "/embed", {"inputs": "in flight"})
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3 * SLOW)
        srv.signal(signal.SIGTERM)
        time.sleep(0.2 * SLOW)
        try:
            requests.get(srv.url + "/health", timeout=2)
            refused = False
        except requests.exceptions.ConnectionError:
            refused = True
        c.ok(refused, "new connections refused after SIGTERM")
        t.join()
        c.eq(result["r"].status_code, 200, "the in-flight request completes after SIGTERM")
        c.eq(srv.proc.wait(timeout=30 * SLOW), 0, "exit 0 after draining")
        c.ok("finishing 1 request(s) in flight" in srv.text(), "drain logged")
    with Server(TINY, "--debug-batch-delay-ms", int(3000 * SLOW)) as srv:
        def doomed():
            try:
                post(srv, "/embed", {"inputs": "a"})
            except requests.exceptions.ConnectionError:
                pass  # the server exits without answering: expected
        t = threading.Thread(target=doomed)
        t.start()
        time.sleep(0.3 * SLOW)
        srv.signal(signal.SIGTERM)
        time.sleep(0.2 * SLOW)
        srv.signal(signal.SIGINT)
        c.eq(srv.proc.wait(timeout=10 * SLOW), 1, "a second signal exits at once with 1")
        t.join()
    # --drain-timeout: a request still being received does not hold the exit.
    with Server(TINY, "--drain-timeout", 1, "--quiet") as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.3 * SLOW)
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        status = srv.proc.wait(timeout=30 * SLOW)
        took = time.time() - t0
        s.close()
        c.ok(status == 0 and took < 1 + 3 * SLOW,
             f"--drain-timeout 1 with a body still arriving: exit {status} after {took:.1f} s")


def startup_errors(port):
    st, _, err = run_cli("serve", "--model", TINY, "--port", port, check=False)
    c.ok(st == 1 and b"in use" in err, f"port in use: exit 1 naming the cause ({err[-120:]!r})")
    st, _, err = run_cli("serve", "--model", "/nonexistent/model", "--port", 0, check=False)
    c.ok(st == 1 and (b"not found" in err.lower() or b"no such" in err.lower()),
         f"missing model: exit 1 ({err[-120:]!r})")
    st, _, _ = run_cli("serve", "--model", TINY, "--port", "70000", check=False)
    c.eq(st, 2, "bad --port: usage error")
    st, _, _ = run_cli("serve", "--model", TINY, "--auto-truncate", "maybe", check=False)
    c.eq(st, 2, "bad --auto-truncate: usage error")
    st, _, err = run_cli("serve", "--model", TINY, "--max-batch-tokens", 8, "--auto-truncate",
                         "false", "--port", 0, check=False)
    c.ok(st == 2 and b"max_seq_length" in err, "--max-batch-tokens below max_seq_length refused")
    st, _, _ = run_cli("serve", "--model", TINY, "--texts", "x", check=False)
    c.eq(st, 2, "--texts without --corpus: usage error")
    st, out, _ = run_cli("serve", "--help", check=False)
    c.ok(st == 0 and b"--max-concurrent-requests" in out, "--help")


def main():
    timeout = 2
    with Server(TINY, "--payload-limit", 1000, "--max-client-batch-size", 4,
                "--max-header-bytes", 8192, "--request-timeout", timeout,
                "--http-threads", 2) as srv:
        routes(srv)
        cli = same_as_cli(srv)
        payload_limit(srv)
        framing(srv)
        deadlines(srv, timeout)
        startup_errors(srv.port)
        log = srv.text()
        c.ok(" POST /embed 200 inputs=1 tokens=" in log, "one log line per request")
        c.eq(srv.stop(), 0, "exit status after SIGTERM")
    json_suite()
    batching(cli)
    batch_budget(cli)
    connections_and_idle()
    concurrency_limit()
    api_key()
    shutdown()
    c.finish()


if __name__ == "__main__":
    main()
