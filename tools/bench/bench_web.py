#!/usr/bin/env python3
"""bench_web - the web admin under load: `wrk` with 50 keep-alive
connections against GET /api/v1/status (an API token, `causeway admin
token`) and against the Status page `/` (the session cookie of a real
login), each for --seconds; prints requests/s, p50 and p99 of each, and the
webadmin actor's RSS (VmRSS of /proc/<pid>/status) before and after.

It starts its own node under a temporary folder (HTTPS on 127.0.0.1 and a
free port, a self-signed certificate from tools/dev-cert.sh), holding
/tmp/cw-it.lock while the node runs like every test that starts causewayd.
The token and the session cookie reach wrk through its environment (a Lua
script reads them), never its command line.

    /usr/bin/python3 tools/bench/bench_web.py [--bin build/bin] [--seconds 10]
        [--connections 50] [--threads 1] [--no-lock]

(--no-lock when the caller holds /tmp/cw-it.lock already.) One wrk thread
by default: it keeps 50 connections busy. On a quiet 2-core machine two
threads measure the same; when the machine has other work, the second
thread's CPU is taken from the server it measures (the actor serves from
one thread) and shows up as the server's p99.

Targets (issue 10): the API >= 5,000 requests/s with p99 <= 20 ms.
Exit status 0 when wrk ran and every answer was a 200, whatever the numbers.
"""
import argparse
import fcntl
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
LOCK = "/tmp/cw-it.lock"
ADMIN = "bench"

WRK_SCRIPT = """
-- bench_web: headers from the environment, never the command line
local token = os.getenv("CW_BENCH_TOKEN")
local cookie = os.getenv("CW_BENCH_COOKIE")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
if cookie and #cookie > 0 then wrk.headers["Cookie"] = cookie end
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def die(message):
    sys.stderr.write("bench_web: %s\n" % message)
    sys.exit(1)


class BenchNode:
    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.work = work
        self.port = free_port()
        subprocess.run(["sh", os.path.join(ROOT, "tools", "dev-cert.sh"), os.path.join(work, "state")],
                       check=True, capture_output=True)
        self.conf = os.path.join(work, "bench.conf")
        with open(self.conf, "w") as f:
            f.write('node: { name = "bench"; runtime_dir = "%s/run"; state_dir = "%s/state"; log_level = "warn"; };\n'
                    'supervisor: { intensity = 1000; period_s = 1; };\n'
                    'webadmin: { listen = [ "127.0.0.1:%d" ]; certificate = "%s/state/webadmin.crt";\n'
                    '  private_key = "%s/state/webadmin.key"; };\n'
                    % (work, work, self.port, work, work))
        self.cert = os.path.join(work, "state", "webadmin.crt")
        self.proc = None

    def cli(self, *args, check=True, stdin=None):
        r = subprocess.run([os.path.join(self.bin, "causeway"), "--config", self.conf] + list(args),
                           capture_output=True, text=True, timeout=30, input=stdin)
        if check and r.returncode != 0:
            die("causeway %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def start(self):
        self.log = open(os.path.join(self.work, "causewayd.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(self.bin, "causewayd"), "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = self.cli("--json", "actors", "list", check=False)
            if r.returncode == 0:
                actors = json.loads(r.stdout)["actors"]
                if actors and all(a.get("state") == "running" for a in actors):
                    return
            time.sleep(0.2)
        die("the node did not start; log in %s" % self.work)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.cli("shutdown", check=False)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def webadmin_pid(self):
        actors = json.loads(self.cli("--json", "actors", "list").stdout)["actors"]
        for a in actors:
            if a["name"] == "webadmin":
                return a["pid"]
        die("no webadmin actor in actors list")

    def rss_kib(self):
        with open("/proc/%d/status" % self.webadmin_pid()) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def https(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=15)


def session_cookie(node, name, password):
    """Log in through the login form (its token, the pre-session cookie);
    the cw_session cookie as "cw_session=VALUE"."""
    con = node.https()
    con.request("GET", "/login")
    r = con.getresponse()
    page = r.read().decode()
    if r.status != 200:
        die("GET /login: %d" % r.status)
    cookies = [v.split(";", 1)[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
    m = re.search(r'name="csrf" value="([^"]*)"', page)
    if not m:
        die("no csrf token in the login form")
    body = urllib.parse.urlencode({"csrf": m.group(1), "name": name, "password": password})
    con.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)})
    r = con.getresponse()
    r.read()
    con.close()
    session = [v.split(";", 1)[0] for k, v in r.getheaders()
               if k.lower() == "set-cookie" and v.startswith("cw_session=")]
    if r.status != 303 or not session:
        die("POST /login: %d, no session cookie" % r.status)
    return session[0]


def check_200(node, path, headers):
    con = node.https()
    con.request("GET", path, headers=headers)
    r = con.getresponse()
    r.read()
    con.close()
    if r.status != 200:
        die("GET %s: %d before the run (auth not accepted?)" % (path, r.status))


def ms(text):
    """wrk's latency ("812.00us", "1.23ms", "2.01s") in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(node, path, env, args, script):
    url = "https://127.0.0.1:%d%s" % (node.port, path)
    e = dict(os.environ, **env)
    r = subprocess.run(["wrk", "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % args.seconds,
                        "--latency", "--timeout", "5s", "-s", script, url],
                       capture_output=True, text=True, env=e, timeout=args.seconds + 60)
    if r.returncode != 0:
        die("wrk %s: %s%s" % (path, r.stdout, r.stderr))
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return {"rps": rps, "p50": ms(lat["50"]), "p99": ms(lat["99"]), "requests": total,
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1).strip() if errors else "",
            "raw": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-lock", action="store_true", help="the caller holds %s" % LOCK)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        die("wrk is not installed (tools/setup-deps.sh installs Debian's wrk)")
    work = tempfile.mkdtemp(prefix="cwbenchweb.")
    lock = open(LOCK, "a")
    if not args.no_lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print("bench_web: waiting for %s (a test or benchmark runs a node)" % LOCK, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
    node = BenchNode(os.path.abspath(args.bin), work)
    ok = True
    try:
        node.start()
        password = secrets.token_urlsafe(16)
        pwfile = os.path.join(work, "password")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        os.chmod(pwfile, 0o600)
        node.cli("admin", "add", ADMIN, "--password-file", pwfile)
        token = node.cli("admin", "token", ADMIN).stdout.strip().split()[-1]
        if not token.startswith("cwt_"):
            die("`causeway admin token` printed no cwt_ token")
        cookie = session_cookie(node, ADMIN, password)
        script = os.path.join(work, "headers.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        check_200(node, "/api/v1/status", {"Authorization": "Bearer " + token})
        check_200(node, "/", {"Cookie": cookie})

        rss_before = node.rss_kib()
        print("webadmin actor RSS before: %d KiB (%.1f MiB)" % (rss_before, rss_before / 1024))
        runs = [("GET /api/v1/status (Bearer token)", "/api/v1/status", {"CW_BENCH_TOKEN": token}, (5000, 20.0)),
                ("GET / Status page (session cookie)", "/", {"CW_BENCH_COOKIE": cookie}, None)]
        results = {}
        for label, path, env, target in runs:
            res = wrk(node, path, env, args, script)
            results[path] = res
            line = "%-36s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d requests, %d connections, %d wrk threads, %d s)" % (
                label, res["rps"], res["p50"], res["p99"], res["requests"], args.connections, args.threads, args.seconds)
            if target:
                line += "  target >= %d req/s, p99 <= %.0f ms: %s" % (
                    target[0], target[1], "met" if res["rps"] >= target[0] and res["p99"] <= target[1] else "NOT met")
            print(line)
            if res["non_2xx"] or res["socket_errors"]:
                ok = False
                print("  non-2xx answers: %d; socket errors: %s" % (res["non_2xx"], res["socket_errors"] or "none"))
        rss_after = node.rss_kib()
        print("webadmin actor RSS after:  %d KiB (%.1f MiB)" % (rss_after, rss_after / 1024))
        print(json.dumps({"api": {k: v for k, v in results["/api/v1/status"].items() if k != "raw"},
                          "page": {k: v for k, v in results["/"].items() if k != "raw"},
                          "rss_kib_before": rss_before, "rss_kib_after": rss_after}))
    finally:
        node.stop()
        lock.close()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("bench_web: node log kept in %s" % work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
