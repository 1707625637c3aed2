"""Option keys from the operator's side: the real causeway-license binary
(keygen, issue, show), a bootstrap file whose licensing.issuers names a
bad file refused by `causewayd --check-config`, and the `causeway license`
commands of the real CLI talking to a control socket that answers like the
licensing actor (what is sent, what is printed, the exit status)."""
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest
import zmq

from cwtest import BIN

TOOL = os.path.join(BIN, "causeway-license")
CLI = os.path.join(BIN, "causeway")


def tool(*args, timeout=10):
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def issuer(tmp_path):
    d = tmp_path / "issuer"
    r = tool("keygen", str(d))
    assert r.returncode == 0, r.stderr
    return d


def issue(issuer_dir, *extra):
    r = tool("issue", "--key", str(issuer_dir / "issuer.key"), *extra)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert len(lines) == 2 and lines[1] == "", r.stdout
    return lines[0]


# ---------------------------------------------------------------------------
# causeway-license

def test_keygen_modes_key_id_and_no_overwrite(tmp_path):
    d = tmp_path / "a" / "b"
    r = tool("keygen", str(d))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d / "issuer.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "issuer.pub").st_mode) == 0o644
    assert "%s/issuer.key" % d in r.stdout and "%s/issuer.pub" % d in r.stdout
    key_id = [line.split()[-1] for line in r.stdout.splitlines() if line.startswith("key id:")]
    assert len(key_id) == 1 and len(key_id[0]) == 16, r.stdout
    assert (d / "issuer.pub").read_text().startswith("causeway-license-issuer ed25519 ")
    before = (d / "issuer.key").read_bytes()
    again = tool("keygen", str(d))
    assert again.returncode == 1
    assert "refused" in again.stderr and "issuer.key" in again.stderr, again.stderr
    assert (d / "issuer.key").read_bytes() == before
    # A key it issues names that key id
    token = issue(d, "--kind", "room_systems", "--count", "3")
    shown = json.loads(tool("show", token, "--json").stdout)
    assert shown["issuer"] == key_id[0]


def test_issue_show_round_trip(issuer):
    token = issue(issuer, "--kind", "rich_media_sessions", "--count", "50", "--system", "peer1",
                  "--expires", "2099-12-31")
    assert token.startswith("CWL1.") and token.count(".") == 2
    r = tool("show", token)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert lines["kind"].strip() == "rich_media_sessions"
    assert lines["count"].strip() == "50"
    assert lines["system"].strip() == "peer1"
    assert lines["expires"].strip().startswith("2099-12-31 (")
    assert lines["signature"].strip().startswith("not checked")
    body = json.loads(tool("show", token, "--json").stdout)
    assert body["kind"] == "rich_media_sessions" and body["count"] == 50
    assert body["system"] == "peer1" and body["expires"] == "2099-12-31"
    assert len(body["serial"]) == 32 and body["signature"] == "not checked"
    assert body["issued"] == time.strftime("%Y-%m-%d", time.gmtime())
    # A feature key: count 1 without --count, never expires, not bound
    feature = json.loads(tool("show", issue(issuer, "--kind", "feature:traversal"), "--json").stdout)
    assert feature["count"] == 1 and "expires" not in feature and "system" not in feature
    # Two keys, two serials
    assert json.loads(tool("show", issue(issuer, "--kind", "feature:traversal"), "--json").stdout)["serial"] \
        != feature["serial"]


def test_show_with_issuer_ok_altered_forged_expired(issuer, tmp_path):
    pub = str(issuer / "issuer.pub")
    token = issue(issuer, "--kind", "traversal_calls", "--count", "10")
    r = tool("show", token, "--issuer", pub)
    assert r.returncode == 0, r.stderr
    assert "signature: ok" in r.stdout
    assert json.loads(tool("show", token, "--issuer", pub, "--json").stdout)["check"] == "ok"
    # One byte of the signature changed
    last = token[-2]
    altered = token[:-2] + ("A" if last != "A" else "B") + token[-1]
    r = tool("show", altered, "--issuer", pub)
    assert r.returncode == 1
    assert "refused: the key is altered (the signature does not match its content)" in r.stdout
    # Another issuer's key
    other = tmp_path / "other"
    assert tool("keygen", str(other)).returncode == 0
    r = tool("show", issue(other, "--kind", "traversal_calls", "--count", "10"), "--issuer", pub)
    assert r.returncode == 1
    assert "refused: the key is forged (not signed by any configured issuer: key id" in r.stdout
    # Expired: the tool issues it (with a warning), show refuses it
    r = tool("issue", "--key", str(issuer / "issuer.key"), "--kind", "room_systems", "--count", "2",
             "--expires", "2025-01-31")
    assert r.returncode == 0 and "expired" in r.stderr
    r = tool("show", r.stdout.strip(), "--issuer", pub)
    assert r.returncode == 1
    assert "refused: the key is expired (it was valid until 2025-01-31)" in r.stdout
    # Without --issuer the same key still decodes
    assert tool("show", altered).returncode == 0


def test_secret_key_readable_by_others_refused(issuer):
    os.chmod(issuer / "issuer.key", 0o644)
    r = tool("issue", "--key", str(issuer / "issuer.key"), "--kind", "room_systems", "--count", "1")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "refused" in r.stderr and "chmod 600" in r.stderr, r.stderr


@pytest.mark.parametrize("args,expected", [
    ([], "expected a command"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["keygen"], "keygen DIR"),
    (["keygen", "a", "b"], "unexpected argument 'b'"),
    (["issue", "--kind", "room_systems", "--count", "1"], "--key FILE is required"),
    (["issue", "--key", "K", "--count", "1"], "--kind KIND is required"),
    (["issue", "--key", "K", "--kind", "rich_media"], "--kind must be one of"),
    (["issue", "--key", "K", "--kind", "room_systems"], "--count N is required"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "0"], "--count must be a whole number 1..1000000"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "1000001"], "1..1000000"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "ten"], "got 'ten'"),
    (["issue", "--key", "K", "--kind", "feature:traversal", "--count", "2"], "--count must be 1 for a feature key"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "1", "--expires", "2026-02-30"],
     "--expires must be a real day YYYY-MM-DD"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "1", "--expires", "31.12.2026"],
     "--expires must be a real day YYYY-MM-DD"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "1", "--system", ""], "--system must be"),
    (["issue", "--key", "K", "--kind", "room_systems", "--count", "1", "--colour", "red"],
     "unknown option '--colour'"),
    (["issue", "--key"], "--key needs a value"),
    (["show"], "expected one option key"),
    (["show", "--json"], "expected one option key"),
])
def test_argument_errors_exit_2(args, expected):
    r = tool(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""
    assert expected in r.stderr, r.stderr
    assert "usage: causeway-license" in r.stderr


def test_help_and_malformed_key():
    r = tool("--help")
    assert r.returncode == 0
    assert "causeway-license issue --key" in r.stdout and "feature:<name>" in r.stdout
    r = tool("show", "CWL1.not-a-key")
    assert r.returncode == 1
    assert "malformed: the key has no signature part" in r.stderr


# ---------------------------------------------------------------------------
# The bootstrap file's licensing section

CONF = """node: {
  name = "peer1";
  runtime_dir = "%(run)s";
  state_dir = "%(state)s";
};
licensing: {
  issuers = [ "%(good)s",
              "%(bad)s" ];
  lost_peer_grace_s = 600;
};
"""


def check_config(path):
    return subprocess.run([os.path.join(BIN, "causewayd"), "--check-config", str(path)],
                          capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("case", ["missing", "garbage", "secret-key", "folder"])
def test_bad_issuer_file_refused_by_check_config(issuer, tmp_path, case):
    bad = {"missing": tmp_path / "nowhere.pub", "garbage": tmp_path / "garbage.pub",
           "secret-key": issuer / "issuer.key", "folder": issuer}[case]
    (tmp_path / "garbage.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host\n")
    path = tmp_path / "bad.conf"
    path.write_text(CONF % {"run": tmp_path / "run", "state": tmp_path / "state",
                            "good": issuer / "issuer.pub", "bad": bad})
    r = check_config(path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    message = r.stderr.strip()
    assert "\n" not in message, message
    prefix = "%s:8: key 'licensing.issuers': must " % path
    assert message.startswith(prefix), message
    assert str(bad) in message, message
    # The same file with only the good issuer passes
    path.write_text((CONF % {"run": tmp_path / "run", "state": tmp_path / "state",
                             "good": issuer / "issuer.pub", "bad": issuer / "issuer.pub"}))
    r = check_config(path)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# causeway license ...: the real CLI against a socket that answers like the
# licensing actor

STATUS = {
    "types": {
        "rich_media_sessions": {
            "pool": 150, "used": 3, "free": 147,
            "by_peer": {"peer1": {"installed": 100, "used": 2, "share": 75, "state": "this"},
                        "peer2": {"installed": 50, "used": 1, "share": 75, "state": "live"},
                        "peer3": {"installed": 0, "used": 0, "share": 0, "state": "lost"}},
            "lost": [{"peer": "peer3", "licenses": 0, "leaves_at": "2026-12-03T10:00:00Z"}]},
        "room_systems": {"pool": 0, "used": 0, "free": 0, "by_peer": {}, "lost": []},
        "desktop_systems": {"pool": 0, "used": 0, "free": 0, "by_peer": {}, "lost": []},
        "traversal_calls": {
            "pool": 20, "used": 20, "free": 0,
            "by_peer": {"peer1": {"installed": 20, "used": 20, "share": 20, "state": "this"}}, "lost": []},
        "non_traversal_calls": {"pool": 0, "used": 0, "free": 0, "by_peer": {}, "lost": []},
    },
    "features": {"peer1": ["feature:traversal"], "peer2": []},
    "feature_mismatch": True,
    "this_peer": "peer1",
    "primary": "peer1",
    "lost_peer_grace_s": 259200,
}

LIST = {"keys": [
    {"serial": "0123456789abcdef0123456789abcdef", "kind": "rich_media_sessions", "count": 100, "system": "peer1",
     "expires": "2027-12-31", "issued": "2026-11-30", "issuer": "0068d90177136fa3", "state": "active",
     "days_left": 396},
    {"serial": "fedcba9876543210fedcba9876543210", "kind": "feature:traversal", "count": 1, "system": "",
     "expires": "", "issued": "2026-11-30", "issuer": "0068d90177136fa3", "state": "unknown issuer",
     "days_left": None},
]}


class FakeLicensing:
    """A REP socket speaking the control protocol: REPLIES maps a command
    to (status, body) or to a function of the arguments; every request is
    recorded."""

    def __init__(self, path):
        self.endpoint = "ipc://%s" % path
        self.replies = {}
        self.requests = []
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.bind(self.endpoint)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            if not self.sock.poll(50):
                continue
            sig, command, args = self.sock.recv_multipart()
            command = command.decode()
            args = json.loads(args)
            self.requests.append((command, args))
            reply = self.replies.get(command, ("error", {"error": "unknown command '%s'" % command}))
            if callable(reply):
                reply = reply(args)
            self.sock.send_multipart([b"CW1", reply[0].encode(), json.dumps(reply[1]).encode()])

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def daemon(tmp_path):
    fake = FakeLicensing(tmp_path / "control")
    yield fake
    fake.close()


def cli(daemon, *args, timeout=15):
    return subprocess.run([CLI, "--endpoint", daemon.endpoint, *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_status_table(daemon):
    daemon.replies["license.status"] = ("ok", STATUS)
    r = cli(daemon, "license", "status")
    assert r.returncode == 0, r.stderr
    assert daemon.requests == [("license.status", {})]
    out = r.stdout
    assert "this peer: peer1, primary: peer1, a lost peer's licenses stay in the pool for 3d 00h 00m" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["rich_media_sessions:", "pool", "150,", "used", "3,", "free", "147"] in lines
    assert ["traversal_calls:", "pool", "20,", "used", "20,", "free", "0"] in lines
    assert ["PEER", "INSTALLED", "USED", "SHARE", "STATE"] in lines
    assert ["peer1", "100", "2", "75", "this"] in lines
    assert ["peer2", "50", "1", "75", "live"] in lines
    assert ["peer3", "0", "0", "0", "lost"] in lines
    assert "lost peer peer3: its 0 licenses stay in the pool; they leave the pool at 2026-12-03T10:00:00Z" in out
    # The capacity kinds in their order, each once
    order = [line[0] for line in lines if line and line[0].endswith(":") and "pool" in line]
    assert order == ["rich_media_sessions:", "room_systems:", "desktop_systems:", "traversal_calls:",
                     "non_traversal_calls:"]
    assert ["peer1", "feature:traversal"] in lines and ["peer2", "none"] in lines
    assert "MISMATCH" in out
    # --json: the body as the daemon sent it
    r = cli(daemon, "--json", "license", "status")
    assert r.returncode == 0
    assert json.loads(r.stdout) == STATUS


def test_cli_list_add_remove_release(daemon):
    daemon.replies["license.list"] = ("ok", LIST)
    r = cli(daemon, "license", "list")
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert lines[0] == ["SERIAL", "KIND", "COUNT", "SYSTEM", "EXPIRES", "DAYS-LEFT", "ISSUED", "ISSUER", "STATE"]
    assert lines[1] == ["0123456789abcdef0123456789abcdef", "rich_media_sessions", "100", "peer1", "2027-12-31",
                        "396", "2026-11-30", "0068d90177136fa3", "active"]
    assert lines[2] == ["fedcba9876543210fedcba9876543210", "feature:traversal", "1", "any", "never", "-",
                        "2026-11-30", "0068d90177136fa3", "unknown", "issuer"]
    daemon.replies["license.list"] = ("ok", {"keys": []})
    assert "no option keys on this peer" in cli(daemon, "license", "list").stdout

    daemon.replies["license.add"] = ("ok", {"key": LIST["keys"][0]})
    r = cli(daemon, "license", "add", "CWL1.abc.def")
    assert r.returncode == 0, r.stderr
    assert daemon.requests[-1] == ("license.add", {"key": "CWL1.abc.def"})
    assert r.stdout == ("option key added: serial 0123456789abcdef0123456789abcdef, rich_media_sessions x 100, "
                        "bound to system 'peer1', valid until 2027-12-31\n")
    # A refusal is the daemon's error, printed as it is, exit 1
    daemon.replies["license.add"] = ("error", {"error": "refused: the key is expired (it was valid until "
                                                        "2025-01-31)"})
    r = cli(daemon, "license", "add", "CWL1.abc.def")
    assert r.returncode == 1
    assert "refused: the key is expired (it was valid until 2025-01-31)" in r.stderr

    daemon.replies["license.remove"] = ("ok", {})
    r = cli(daemon, "license", "remove", "0123456789abcdef0123456789abcdef")
    assert r.returncode == 0, r.stderr
    assert daemon.requests[-1] == ("license.remove", {"key": "0123456789abcdef0123456789abcdef"})
    assert r.stdout == "option key removed\n"

    daemon.replies["license.release"] = ("ok", {})
    r = cli(daemon, "license", "release", "L42")
    assert r.returncode == 0, r.stderr
    assert daemon.requests[-1] == ("license.release", {"lease": "L42"})
    assert r.stdout == "lease L42 released\n"


def test_cli_acquire_granted_and_refused(daemon):
    daemon.replies["license.acquire"] = ("ok", {"granted": True, "lease": "L1"})
    r = cli(daemon, "license", "acquire", "rich_media_sessions")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "granted: lease L1\n"
    assert daemon.requests[-1] == ("license.acquire", {"kind": "rich_media_sessions"})
    daemon.replies["license.acquire"] = ("ok", {"granted": False, "reason": "the pool of traversal_calls is "
                                                                          "exhausted (20 of 20 in use)"})
    r = cli(daemon, "license", "acquire", "traversal_calls")
    assert r.returncode == 1
    assert r.stdout == "refused: the pool of traversal_calls is exhausted (20 of 20 in use)\n"
    daemon.replies["license.acquire"] = ("ok", {"granted": False})
    r = cli(daemon, "license", "acquire", "traversal_calls")
    assert r.returncode == 1
    assert r.stdout.startswith("refused: ")
    r = cli(daemon, "--json", "license", "acquire", "traversal_calls")
    assert r.returncode == 1
    assert json.loads(r.stdout) == {"granted": False}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_acquire_hold_releases_on_signal(daemon, sig):
    daemon.replies["license.acquire"] = ("ok", {"granted": True, "lease": "L7"})
    daemon.replies["license.release"] = ("ok", {})
    proc = subprocess.Popen([CLI, "--endpoint", daemon.endpoint, "license", "acquire", "room_systems", "--hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        while not daemon.requests and time.time() < deadline:
            time.sleep(0.05)
        assert daemon.requests == [("license.acquire", {"kind": "room_systems"})]
        # Held: still running, nothing released
        time.sleep(0.5)
        assert proc.poll() is None
        assert len(daemon.requests) == 1
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert daemon.requests[-1] == ("license.release", {"lease": "L7"})
    assert out == "granted: lease L7\nreleased: lease L7\n"


def test_cli_acquire_hold_refused_exits_at_once(daemon):
    daemon.replies["license.acquire"] = ("ok", {"granted": False, "reason": "no room_systems key in the cluster"})
    r = cli(daemon, "license", "acquire", "room_systems", "--hold")
    assert r.returncode == 1
    assert r.stdout == "refused: no room_systems key in the cluster\n"
    assert [c for c, _ in daemon.requests] == ["license.acquire"]


@pytest.mark.parametrize("args,expected", [
    (["license"], "expected one of: add, remove, list, status, acquire, release"),
    (["license", "add"], "missing KEY"),
    (["license", "remove"], "missing KEY|SERIAL"),
    (["license", "acquire"], "missing KIND"),
    (["license", "release"], "missing LEASE"),
    (["license", "list", "extra"], "unexpected argument 'extra'"),
    (["license", "status", "--hold"], "unknown option '--hold'"),
    (["license", "acquire", "room_systems", "--hold=yes"], "--hold takes no value"),
])
def test_cli_argument_errors(daemon, args, expected):
    r = cli(daemon, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert expected in r.stderr, r.stderr
    assert daemon.requests == []


def test_cli_help_lists_the_license_commands(daemon):
    r = cli(daemon, "help")
    for words in ("license add KEY", "license remove KEY|SERIAL", "license list", "license status",
                  "license acquire KIND [--hold]", "license release LEASE"):
        assert words in r.stdout, words
    r = cli(daemon, "license", "acquire", "--help")
    assert r.returncode == 0
    assert "Control command: license.acquire" in r.stdout
