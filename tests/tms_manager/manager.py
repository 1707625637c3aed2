#!/usr/bin/python3
"""manager.py - a test external manager for the tms actor.

It speaks the protocol the tms actor documents (README, "The external
manager"): POST <path>/Register, <path>/PostEvents and <path>/Heartbeat,
JSON bodies, HTTP Basic when --user is given, each answered with a JSON
object. It records every request it received, as one JSON line per request
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

Usage:
    manager.py --listen IP:PORT --control IP:PORT [--cert F --key F]
               [--wrong-cert F --wrong-key F] [--path P] [--user U
               --password-file F] [--record FILE] [--fault MODE]

Without --cert it speaks plain HTTP. It runs until SIGTERM or SIGINT.
"""
import argparse
import base64
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        prefix = state.path + "/"
        operation = self.path[len(prefix):] if self.path.startswith(prefix) else None
        if operation not in OPERATIONS:
            self._reply(404, {"error": "no such operation: %s" % self.path})
            return
        user = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, password = None, None
        if state.user is not None and (user != state.user or password != state.password):
            self._reply(401, {"error": "credentials refused"})
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
        else:
            self._reply(400, {"error": "POST /control/fault {mode: none|500|timeout|truncate|cert}"})


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
