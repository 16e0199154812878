"""Helpers for the server's end-to-end tests: start `sembed serve` on
127.0.0.1 with a free port (--port 0 --port-file), stop it by PID, pick the
test model, and count checks.

Run with /usr/bin/python3 (Debian's python3-requests, python3-numpy and
python3-pandas). Environment: SEMBED_BIN, SEMBED_FIXTURES, SEMBED_SHARED.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import requests
except ImportError:  # pragma: no cover - depends on the machine
    print("skipped: python3-requests is not installed (apt-get install python3-requests)")
    sys.exit(77)

BIN = os.environ.get("SEMBED_BIN", "")
FIXTURES = os.environ.get("SEMBED_FIXTURES", "")
SHARED = os.environ.get("SEMBED_SHARED", "")
SANITIZE = os.environ.get("SEMBED_SANITIZE", "") == "ON"
# A sanitizer build runs many times slower: stretch waits by this factor.
SLOW = 4.0 if SANITIZE else 1.0


def skip(msg):
    print(f"skipped: {msg}")
    sys.exit(77)


def model_dir(name):
    """The fixture folder `name` (tiny, minilm), or None when absent."""
    path = os.path.join(FIXTURES, name)
    if os.path.isfile(os.path.join(path, "model.safetensors")):
        return path
    return None


def need_bin():
    if not BIN or not os.access(BIN, os.X_OK):
        skip("SEMBED_BIN (the sembed tool) is not set or not executable")


class Checks:
    """Counts checks; a failed one prints why and the run exits 1 at the end."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, f"{what}: got {got!r}, want {want!r}")

    def finish(self):
        print(f"{self.name}: {self.passed} checks passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


class Server:
    """A `sembed serve` process; use as a context manager."""

    def __init__(self, model, *args, start_timeout=120):
        need_bin()
        self.tmp = tempfile.mkdtemp(prefix="sembed-serve-test-")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.log = open(self.log_path, "w+b")
        cmd = [BIN, "serve", "--model", model, "--port", "0", "--port-file", self.port_file]
        cmd += [str(a) for a in args]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + start_timeout * SLOW
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.text()}")
            if time.time() > deadline:
                self.kill()
                raise RuntimeError(f"server did not start:\n{self.text()}")
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def signal(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (None when it had to be killed)."""
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
            if rc != 0:  # show why (a sanitizer report, a crash) in the test output
                print(f"server exited with {rc}; the end of its log:\n{self.text()[-6000:]}")
            return rc
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.log.close()
        return False


def raw_request(port, data, timeout=10.0, read=True):
    """Sends raw bytes on a new connection; returns (status, headers, body) of
    the answer, or (None, None, b"") when the server closed without one."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                lines = head.split(b"\r\n")
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    hdrs[k.strip().lower().decode()] = v.strip().decode()
                n = int(hdrs.get("content-length", "-1"))
                if n >= 0 and len(rest) >= n:
                    status = int(lines[0].split()[1])
                    return status, hdrs, rest[:n]
        if buf.startswith(b"HTTP/"):
            head, _, rest = buf.partition(b"\r\n\r\n")
            return int(head.split()[1]), {}, rest
        return None, None, b""
    finally:
        if read:
            s.close()


def run_cli(*args, check=True, input=None):
    """Runs the sembed tool; returns (status, stdout, stderr)."""
    need_bin()
    p = subprocess.run([BIN, *[str(a) for a in args]], capture_output=True, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"sembed {' '.join(map(str, args))} failed: {p.stderr.decode()}")
    return p.returncode, p.stdout, p.stderr


def f32(x):
    """A JSON number as the float32 it denotes."""
    import struct
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def json_lines_floats(data):
    """Rows of floats from `sembed embed --output-format jsonl` output."""
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]
