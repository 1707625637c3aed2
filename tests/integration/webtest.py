"""webtest - a node with the web admin, and an HTTPS client with cookies,
for the web admin's tests.

    node = web_node(tmp_path)           # started, HTTPS on a free port
    add_admin(node, "admin", "pw...")   # through the control socket
    c = Client(node)                    # TLS verified against its certificate
    c.login("admin", "pw...")           # the real form, its token, cookies
    r = c.get("/alarms")                # r.status, r.headers, r.text
"""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.parse

from cwtest import Node


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(folder):
    cert, key = os.path.join(folder, "web.crt"), os.path.join(folder, "web.key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
    return cert, key


def make_ip_cert(folder, name, ips):
    """A self-signed certificate NAME.crt/.key in FOLDER valid for the IP addresses IPS."""
    cert, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=" + ",".join("IP:" + ip for ip in ips)],
                   check=True, capture_output=True)
    return cert, key


def web_node(tmp_path, start=True, **sections):
    """A node whose web admin listens on 127.0.0.1:<free port>."""
    cert, key = make_cert(str(tmp_path))
    port = free_port()
    web = {"listen": ["127.0.0.1:%d" % port], "certificate": cert, "private_key": key,
           "metrics_allow": ["127.0.0.1"]}
    web.update(sections.pop("webadmin", {}))
    n = Node(tmp_path, webadmin=web, **sections)
    n.https_port, n.cert = port, cert
    if start:
        n.start()
    return n


def add_admin(node, name, password, timeout=10):
    """Make account NAME (retrying while the accounts are being loaded)."""
    deadline = time.time() + timeout
    while True:
        status, body = node.call("webadmin.admin.add", {"name": name, "password": password})
        if status == "ok" or time.time() > deadline or "loaded" not in body.get("error", ""):
            assert status == "ok", body
            return body
        time.sleep(0.1)


class Response:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        self.text = body.decode(errors="replace")

    def json(self):
        return json.loads(self.text)


class Client:
    """HTTPS with a cookie jar (names and values only: the server sets
    Path and flags, which tests check on Response.cookies)."""

    def __init__(self, node, source="127.0.0.1"):
        self.node = node
        self.source = source
        self.cookies = {}
        self.ctx = ssl.create_default_context(cafile=node.cert)

    def request(self, method, path, body=None, headers=None):
        con = http.client.HTTPSConnection("127.0.0.1", self.node.https_port, context=self.ctx, timeout=15,
                                          source_address=(self.source, 0))
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        con.request(method, path, body=body, headers=h)
        r = con.getresponse()
        resp = Response(r, r.read())
        con.close()
        for c in resp.cookies:
            name, _, rest = c.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in c:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_form(self, path, fields):
        return self.request("POST", path, body=urllib.parse.urlencode(fields),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    @staticmethod
    def csrf_of(text):
        m = re.search(r'name="csrf" value="([^"]*)"', text)
        return m.group(1) if m else None

    def login(self, name, password, expect=303, next=None):
        page = self.get("/login" + ("?next=" + urllib.parse.quote(next) if next else ""))
        assert page.status == 200, page.text
        fields = {"csrf": self.csrf_of(page.text), "name": name, "password": password}
        hidden = re.search(r'name="next" value="([^"]*)"', page.text)
        if hidden:
            fields["next"] = hidden.group(1)
        r = self.post_form("/login", fields)
        assert r.status == expect, (r.status, r.text)
        return r
