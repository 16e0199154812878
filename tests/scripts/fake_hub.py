#!/usr/bin/python3
"""A fake Hugging Face Hub on loopback for the Hub download tests.

It serves model folders with the Hub's URL layout and headers:
  HEAD/GET /{repo_id}/resolve/{revision}/{path}
    small files: 200 with ETag (git blob sha1), X-Repo-Commit, Content-Length,
                 Range support
    LFS files (*.safetensors, *.bin, or larger than 10 MB): 302 to a second
                 host name ("localhost" instead of 127.0.0.1, so a client must
                 drop its token there) with X-Linked-Etag (sha256),
                 X-Linked-Size, X-Repo-Commit
    unknown repo: 401 (404 with a token), X-Error-Code: RepoNotFound
    a wrong token: 401 (no error code)
    unknown revision: 404 RevisionNotFound; unknown file: 404 EntryNotFound
                 with X-Repo-Commit, as the Hub sends them
  GET/HEAD /cdn/{sha256}  the LFS bodies, with Range support

Faults come from a file (--faults) read on every request, one per line:
  KIND GLOB [COUNT]
KIND is drop (send half the body, then close the connection), badsha (flip a
byte of the body), norange (ignore Range), slow (send the body at about
2 MB/s), hang (wait 5 s before answering a
resolve URL), or an HTTP status (401, 403, 404, 500...) returned for the
resolve URLs. GLOB matches the file path in the repo;
COUNT limits how many requests the fault hits (default: all).

Every request is logged as one JSON object per line in --log.
Usage: fake_hub.py --port-file F --log F [--faults F] [--token T]
                   [--private REPO] [--rename OLD=NEW] --repo REPO[@REV]=DIR ...
"""
import argparse
import fnmatch
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self):
        self.revisions = {}  # name -> commit
        self.commits = {}  # commit -> {path: (bytes, sha256, sha1)}


def load_tree(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            full = os.path.join(dirpath, n)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                data = f.read()
            files[rel] = (data, hashlib.sha256(data).hexdigest(), git_blob_sha1(data))
    return files


def is_lfs(path, data):
    return path.endswith((".safetensors", ".bin")) or len(data) > 10_000_000


class State:
    def __init__(self, args):
        self.repos = {}
        self.blobs = {}  # sha256 -> (bytes, path)
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1)
        self.faults_path = args.faults
        self.fault_hits = {}
        self.faults_text = None
        self.token = args.token
        self.private = set(args.private or [])
        self.renames = dict(r.split("=", 1) for r in (args.rename or []))
        for spec in args.repo:
            name, directory = spec.split("=", 1)
            repo_id, _, rev = name.partition("@")
            rev = rev or "main"
            files = load_tree(directory)
            h = hashlib.sha1(("%s@%s" % (repo_id, rev)).encode())
            for p in sorted(files):
                h.update(p.encode() + b"\0" + files[p][1].encode())
            commit = h.hexdigest()
            repo = self.repos.setdefault(repo_id, Repo())
            repo.revisions[rev] = commit
            repo.commits[commit] = files
            for p, (data, sha, _) in files.items():
                self.blobs[sha] = (data, p)

    def fault(self, path, body):
        """The first fault line matching path that still has hits left:
        a body fault (drop, badsha, norange, slow) when body, else a status."""
        if not self.faults_path or not os.path.exists(self.faults_path):
            return None
        with open(self.faults_path) as f:
            text = f.read()
        lines = [l.split() for l in text.splitlines() if l.strip() and not l.startswith("#")]
        with self.lock:
            if text != self.faults_text:  # a new fault list starts its counts anew
                self.faults_text = text
                self.fault_hits = {}
            for i, parts in enumerate(lines):
                kind, pattern = parts[0], parts[1]
                count = int(parts[2]) if len(parts) > 2 else -1
                status_kind = kind.isdigit() or kind == "hang"
                if status_kind == body or not fnmatch.fnmatchcase(path, pattern):
                    continue
                key = (i, " ".join(parts))
                used = self.fault_hits.get(key, 0)
                if count >= 0 and used >= count:
                    continue
                self.fault_hits[key] = used + 1
                return kind
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"

    def log_message(self, fmt, *args):
        pass

    def record(self, status):
        st = self.server.state
        entry = {
            "m": self.command,
            "p": self.path,
            "range": self.headers.get("Range"),
            "auth": self.headers.get("Authorization"),
            "host": self.headers.get("Host"),
            "encoding": self.headers.get("Accept-Encoding"),
            "status": status,
        }
        with st.lock:
            st.log.write(json.dumps(entry) + "\n")

    def reply(self, status, headers, body=b""):
        self.record(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, commit=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message,
                   "Content-Type": "application/json"}
        if commit:
            headers["X-Repo-Commit"] = commit
        self.reply(status, headers, json.dumps({"error": message}).encode())

    def send_body(self, data, path, headers):
        """200 or 206 with Range support and the body faults."""
        st = self.server.state
        kind = st.fault(path, True) if self.command == "GET" else None
        rng = self.headers.get("Range")
        start = 0
        status = 200
        if rng and kind != "norange" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.reply(416, {"Content-Range": "bytes */%d" % len(data)})
                return
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        if kind == "badsha" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        headers["Accept-Ranges"] = "bytes"
        if kind == "slow":
            # About 2 MB/s, in 64 KiB pieces.
            self.record(status)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i:i + 65536])
                time.sleep(0.03)
            return
        if kind != "drop":
            self.reply(status, headers, body)
            return
        # Announce the whole body, send half, then drop the connection.
        self.record(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        st = self.server.state
        raw = urllib.parse.urlsplit(self.path).path
        if raw.startswith("/cdn/"):
            sha = raw[5:]
            if sha not in st.blobs:
                return self.error(404, "EntryNotFound", "no such blob")
            data, path = st.blobs[sha]
            return self.send_body(data, path, {"ETag": '"%s"' % sha})
        if "/resolve/" not in raw:
            return self.error(404, "NotFound", "unknown URL")
        repo_id, rest = raw[1:].split("/resolve/", 1)
        if repo_id in st.renames:
            new = "/%s/resolve/%s" % (st.renames[repo_id], rest)
            return self.reply(307, {"Location": new})
        quoted_rev, _, quoted_path = rest.partition("/")
        rev = urllib.parse.unquote(quoted_rev)
        path = urllib.parse.unquote(quoted_path)
        auth = self.headers.get("Authorization")
        authorized = st.token is not None and auth == "Bearer " + st.token
        if auth and not authorized:
            return self.error(401, "", "Invalid credentials in Authorization header")
        repo = st.repos.get(repo_id)
        if repo is None or (repo_id in st.private and not authorized):
            return self.error(404 if auth else 401, "RepoNotFound",
                              "Repository not found")
        commit = repo.revisions.get(rev, rev if rev in repo.commits else None)
        if commit is None:
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        kind = st.fault(path, False)
        if kind == "hang":
            time.sleep(5)  # longer than the tests' timeouts
            kind = None
        if kind:
            return self.error(int(kind), "Injected", "injected fault %s" % kind, commit)
        files = repo.commits[commit]
        if path not in files:
            return self.error(404, "EntryNotFound", "Entry not found", commit)
        data, sha, sha1 = files[path]
        headers = {"X-Repo-Commit": commit, "ETag": '"%s"' % sha1}
        if is_lfs(path, data):
            port = self.server.server_address[1]
            headers.update({
                "X-Linked-Etag": '"%s"' % sha,
                "X-Linked-Size": str(len(data)),
                "Location": "http://localhost:%d/cdn/%s" % (port, sha),
            })
            return self.reply(302, headers)
        return self.send_body(data, path, headers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--faults")
    ap.add_argument("--token")
    ap.add_argument("--private", action="append")
    ap.add_argument("--rename", action="append")
    ap.add_argument("--repo", action="append", required=True)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
