#!/usr/bin/python3
"""manager.py - a test external manager for the tms actor.

It speaks the protocol the tms actor documents (README, "The external
manager"): POST <path>/Register, <path>/PostEvents and <path>/Heartbeat,
JSON bodies, HTTP Basic when --user is given, each answered with a JSON
object; and the provisioning feed:

    GET <path>/Provisioning?service=S&since=R&limit=N[&wait=W]
        S: users | findme | phonebooks | templates; R >= 0; N 1..20000;
        W 0..60 (seconds). Answer 200
        {"service": S, "revision": <newest revision of S>,
         "rows": [rows with rev > R, by rev ascending, at most N],
         "more": true when rows with rev > the last one sent remain}
        With W > 0 and no row newer than R, the request is held until one
        appears or W seconds passed (a long poll). A removed row comes as
        {"id", "rev", "deleted": true}; the manager keeps these tombstones,
        so a pull from revision 0 sees every removal.

The rows are dataset.py's (--users, --entries, --templates set the sizes),
computed from their number on each request (the manager holds no copy of
them), plus the changes made through the control port, which get the next
revisions of their service. It records every request it received, as one JSON line per request
in --record FILE (so the record survives a restart of the manager), and
takes orders on a plain-HTTP control port:

    GET  /control/received          {"requests": [...]}: what it received
    POST /control/fault {"mode": M} inject a fault into the next answers:
        none      answer normally
        500       answer 500 Internal Server Error
        timeout   hold each request for 30 s before answering
        truncate  promise a longer body (Content-Length) than it sends
        cert      present --wrong-cert/--wrong-key to new TLS connections
    GET  /control/fault             {"mode": M}
    POST /control/provisioning/change {"service": S, "count": N, "first": F}
        rows F..F+N-1 of S (generated numbering, F default 0) edited: a new
        revision each, a changed field (users, phonebooks: "name" or
        "display_name" ends " v<rev>"; findme: active_location "Home";
        templates: the body). -> {"service", "ids", "revision"}
    POST /control/provisioning/delete {"service": S, "count": N, "first": F}
        the same rows removed (tombstones). -> {"service", "ids", "revision"}
    GET  /control/provisioning      {S: {"rows": live rows, "revision"}}
    GET  /control/provisioning/stats {"pages", "rows", "seconds"}: the
        Provisioning answers so far and the time spent making them

The faults apply to the provisioning feed too. Provisioning requests are
recorded with the client's address ("from"), its User-Agent ("agent")
and the query ("body").

Usage:
    manager.py --listen IP:PORT --control IP:PORT [--cert F --key F]
               [--wrong-cert F --wrong-key F] [--path P] [--user U
               --password-file F] [--record FILE] [--fault MODE]
               [--users N] [--entries N] [--templates N]

Without --cert it speaks plain HTTP. It runs until SIGTERM or SIGINT.
"""
import argparse
import base64
import bisect
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset  # noqa: E402

DEFAULT_PATH = "tms/public/external/management/SystemManagementService.asmx"
OPERATIONS = ("Register", "PostEvents", "Heartbeat")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.fault = args.fault
        self.requests = []
        self.record = open(args.record, "a") if args.record else None
        if args.record:
            try:
                with open(args.record) as f:
                    self.requests = [json.loads(line) for line in f if line.strip()]
            except (OSError, ValueError):
                self.requests = []
        self.path = "/" + args.path.strip("/")
        self.user = args.user
        self.password = None
        if args.password_file:
            with open(args.password_file) as f:
                self.password = f.readline().rstrip("\r\n")
        sizes = dataset.counts(args.users, args.entries, args.templates)
        self.feeds = {name: Feed(name, sizes[name]) for name in dataset.SERVICES}
        self.changed = threading.Condition(self.lock)
        self.stats = {"pages": 0, "rows": 0, "seconds": 0.0}
        self.contexts = {}
        if args.cert:
            self.contexts["good"] = self._context(args.cert, args.key)
        if args.wrong_cert:
            self.contexts["wrong"] = self._context(args.wrong_cert, args.wrong_key)

    @staticmethod
    def _context(cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def add(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.record:
                self.record.write(json.dumps(entry) + "\n")
                self.record.flush()


FIRST = dataset.FIRST
LAST = dataset.LAST
BOOKS = dataset.BOOKS
D = dataset.DOMAIN


def _person(n):
    return FIRST[n % 26], LAST[(n // 26) % 26] + ("" if n < 676 else str(n // 676))


def row_text(service, n):
    """dataset.row(SERVICE, N) as compact JSON text, made without a dict
    (the same text json.dumps gives: the generated strings need no
    escaping). About 5 times faster, which a full pull of 2.2M rows needs."""
    rev = n + 1
    if service == "phonebooks":
        first, last = _person(n * 7919 % 1_000_003)
        return ('{"id":"e%07d","rev":%d,"book":"%s","name":"%s %s","uri":"sip:pb%07d@%s","number":"+44%09d"}'
                % (n, rev, BOOKS[n % 8], first, last, n, D, n))
    if service == "users":
        first, last = _person(n)
        return ('{"id":"u%06d","rev":%d,"username":"user%06d","display_name":"%s %s","email":"user%06d@%s",'
                '"aliases":["user%06d@%s"]}' % (n, rev, n, first, last, n, D, n, D))
    if service == "findme":
        u = "user%06d" % n
        return ('{"id":"f%06d","rev":%d,"user":"u%06d","alias":"%s.findme@%s","active_location":"Office",'
                '"locations":[{"name":"Office","devices":["%s.desk@%s","%s.room@%s"]},'
                '{"name":"Home","devices":["%s.home@%s"]},{"name":"Mobile","devices":["%s.mobile@%s"]}]}'
                % (n, rev, n, u, D, u, D, u, D, u, D, u, D))
    return json.dumps(dataset.row(service, n), separators=(",", ":"))


ID_FORMATS = {"users": "u%06d", "findme": "f%06d", "phonebooks": "e%07d", "templates": "t%04d"}


class Feed:
    """The provisioning rows of one service: the generated ones (row n has
    rev n + 1) and the changes made since (revisions after them)."""

    def __init__(self, service, count):
        self.service = service
        self.count = count
        self.changes = []     # [(rev, id, JSON text)], rev ascending; superseded ones stay, skipped
        self.revs = []        # the revs of self.changes, for bisect
        self.latest = {}      # id -> rev of its newest change
        self.deleted = set()  # ids whose newest change is a removal

    def revision(self):
        return self.changes[-1][0] if self.changes else self.count

    def live(self):
        return self.count + sum(1 for i in self.latest if i not in self.deleted and
                                dataset_number(i) >= self.count) - len(
            [i for i in self.deleted if dataset_number(i) < self.count])

    def page(self, since, limit):
        """(rows, more): the JSON texts of the rows with rev > SINCE by
        rev, at most LIMIT; MORE when others follow."""
        rows = []
        n = max(since, 0)
        latest = self.latest
        service = self.service
        form = ID_FORMATS[service]
        while n < self.count and len(rows) <= limit:
            if not latest or form % n not in latest:
                rows.append(row_text(service, n))
            n += 1
        at = bisect.bisect_right(self.revs, since)
        while at < len(self.changes) and len(rows) <= limit:
            rev, ident, text = self.changes[at]
            if latest.get(ident) == rev:
                rows.append(text)
            at += 1
        more = len(rows) > limit
        return rows[:limit], more

    def edit(self, first, count, delete):
        ids = []
        for n in range(first, first + count):
            rev = self.revision() + 1
            row = dataset.row(self.service, n)
            ident = row["id"]
            if delete:
                row = {"id": ident, "rev": rev, "deleted": True}
                self.deleted.add(ident)
            else:
                row["rev"] = rev
                self.deleted.discard(ident)
                if self.service == "users":
                    row["display_name"] += " v%d" % rev
                elif self.service == "phonebooks":
                    row["name"] += " v%d" % rev
                elif self.service == "findme":
                    row["active_location"] = "Home"
                else:
                    row["body"] = row["body"].replace("</configuration>", "<rev>%d</rev></configuration>" % rev)
            self.changes.append((rev, ident, json.dumps(row, separators=(",", ":"))))
            self.revs.append(rev)
            self.latest[ident] = rev
            ids.append(ident)
        return ids


def dataset_number(ident):
    return int(ident[1:])


class ManagerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        state = self.state
        if state.contexts:
            name = "wrong" if state.fault == "cert" and "wrong" in state.contexts else "good"
            sock.settimeout(10)
            try:
                sock = state.contexts[name].wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                raise
            sock.settimeout(None)
        return sock, addr

    def handle_error(self, request, client_address):
        pass    # TLS handshakes refused by the client are expected here


class ManagerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body, truncate=False):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) + (100 if truncate else 0)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if truncate:
            self.close_connection = True

    def _user(self):
        """The HTTP Basic user, or False (answered 401) when refused."""
        state = self.server.state
        user, password = None, None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, password = None, None
        if state.user is not None and (user != state.user or password != state.password):
            self._reply(401, {"error": "credentials refused"})
            return False
        return user

    def do_GET(self):
        state = self.server.state
        url = urlsplit(self.path)
        if url.path != state.path + "/Provisioning":
            self._reply(404, {"error": "no such operation: %s" % url.path})
            return
        user = self._user()
        if user is False:
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            service = query.get("service", "")
            since = int(query.get("since", "0"))
            limit = int(query.get("limit", "1000"))
            wait = int(query.get("wait", "0"))
        except ValueError:
            self._reply(400, {"error": "since, limit and wait are integers"})
            return
        feed = state.feeds.get(service)
        if feed is None or since < 0 or not 1 <= limit <= 20000 or not 0 <= wait <= 60:
            self._reply(400, {"error": "service: users|findme|phonebooks|templates, since >= 0, "
                                       "limit 1..20000, wait 0..60"})
            return
        state.add({"operation": "Provisioning", "user": user, "at": time.time(),
                   "from": self.client_address[0], "agent": self.headers.get("User-Agent") or "",
                   "body": query})
        fault = state.fault
        if fault == "timeout":
            time.sleep(30)
            return
        if fault == "500":
            self._reply(500, {"error": "injected fault"})
            return
        deadline = time.monotonic() + wait
        with state.changed:
            while feed.revision() <= since and time.monotonic() < deadline:
                state.changed.wait(deadline - time.monotonic())
            started = time.monotonic()
            rows, more = feed.page(since, limit)
            revision = feed.revision()
        data = ('{"service": %s, "revision": %d, "more": %s, "rows": [%s]}' % (
            json.dumps(service), revision, "true" if more else "false",
            ",".join(rows))).encode()
        with state.lock:
            state.stats["pages"] += 1
            state.stats["rows"] += len(rows)
            state.stats["seconds"] += time.monotonic() - started
        truncate = state.fault == "truncate"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) + (100 if truncate else 0)))
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        prefix = state.path + "/"
        operation = self.path[len(prefix):] if self.path.startswith(prefix) else None
        if operation not in OPERATIONS:
            self._reply(404, {"error": "no such operation: %s" % self.path})
            return
        user = self._user()
        if user is False:
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._reply(400, {"error": "the body is not JSON"})
            return
        fault = state.fault
        if fault == "timeout":
            time.sleep(30)
            return
        if fault == "500":
            self._reply(500, {"error": "injected fault"})
            return
        if fault == "truncate":
            self._reply(200, {"status": "ok"}, truncate=True)
            return
        state.add({"operation": operation, "user": user, "at": time.time(), "body": body})
        if operation == "PostEvents":
            self._reply(200, {"accepted": len(body.get("events") or [])})
        else:
            self._reply(200, {"status": "ok"})


class ControlHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        if self.path == "/control/received":
            with state.lock:
                self._reply(200, {"requests": list(state.requests)})
        elif self.path == "/control/fault":
            self._reply(200, {"mode": state.fault})
        elif self.path == "/control/provisioning":
            with state.lock:
                self._reply(200, {name: {"rows": f.live(), "revision": f.revision()}
                                  for name, f in state.feeds.items()})
        elif self.path == "/control/provisioning/stats":
            with state.lock:
                self._reply(200, dict(state.stats))
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "not JSON"})
            return
        if self.path == "/control/fault" and body.get("mode") in ("none", "500", "timeout", "truncate", "cert"):
            state.fault = body["mode"]
            self._reply(200, {"mode": state.fault})
        elif self.path in ("/control/provisioning/change", "/control/provisioning/delete") \
                and body.get("service") in state.feeds and isinstance(body.get("count"), int) \
                and isinstance(body.get("first", 0), int) and body.get("first", 0) >= 0:
            with state.changed:
                feed = state.feeds[body["service"]]
                ids = feed.edit(body.get("first", 0), body["count"], self.path.endswith("/delete"))
                state.changed.notify_all()
                self._reply(200, {"service": feed.service, "ids": ids, "revision": feed.revision()})
        else:
            self._reply(400, {"error": "POST /control/fault {mode: none|500|timeout|truncate|cert}, "
                                       "/control/provisioning/change|delete {service, count, first?}"})


def split(address):
    host, _, port = address.rpartition(":")
    return host, int(port)


def main():
    p = argparse.ArgumentParser(description="a test external manager for the tms actor")
    p.add_argument("--listen", required=True, help="IP:PORT of the management service")
    p.add_argument("--control", required=True, help="IP:PORT of the plain-HTTP control endpoint")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--wrong-cert")
    p.add_argument("--wrong-key")
    p.add_argument("--path", default=DEFAULT_PATH)
    p.add_argument("--user")
    p.add_argument("--password-file")
    p.add_argument("--record")
    p.add_argument("--fault", default="none", choices=["none", "500", "timeout", "truncate", "cert"])
    p.add_argument("--users", type=int, default=100_000, help="users and FindMe accounts (100,000)")
    p.add_argument("--entries", type=int, default=2_000_000, help="phone book entries (2,000,000)")
    p.add_argument("--templates", type=int, default=50, help="provisioning templates (50)")
    args = p.parse_args()
    state = State(args)
    service = ManagerServer(split(args.listen), ManagerHandler)
    service.state = state
    control = ThreadingHTTPServer(split(args.control), ControlHandler)
    control.daemon_threads = True
    control.state = state
    threading.Thread(target=control.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("manager: listening on %s (%s), control on %s" % (args.listen, "https" if args.cert else "http",
                                                             args.control), flush=True)
    try:
        service.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
