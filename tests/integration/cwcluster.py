"""cwcluster - clusters of real Causeway nodes for the cluster integration
tests, built on cwtest.Node.

    c = Cluster(tmp_path, 3)            # nodes peer1..peer3 on 127.0.1.1..3
    c.start()                           # start every causewayd (standalone)
    c.form_guide_way()                  # the guide's procedure, then wait
    c.ok(1, "config", "set", "h323.ttl_s", "3600")
    c.wait_replicated("h323.ttl_s", 3600)

Nodes are numbered 1..n; node K clusters on 127.0.1.K (every node on the
same port: 4371 unless busy or held by another cluster of these tests, see
reserve_port) with its own copy of the test certificates (a factory reset
deletes them). Its index in the peer list is
normally K too, but after a removal the list closes its gap: helpers that
take a node number mean the node, never the peer index.

Test certificates come from make_certs.sh, made once per process
(certs_dir()). Per node, cert_names={K: "wrong-san"} picks another leaf
(wrong-san, peerK-untrusted ...) and fqdns=True puts peerK.example.com in
the peer list, with the address mapping set on every node before its peer
list (the only way a node finds itself in a list of names before it has
ever heard from the primary).

Waits poll with generous timeouts (a 2-core machine runs up to 6 nodes and
36 actors): they never assert how fast something happened, and on timeout
they fail with what every node last said and the tail of its log.

Fixture: make_cluster(n, **kw) creates and starts a Cluster under tmp_path
and stops every process it started at teardown, whatever happened.
"""
import json
import os
import sqlite3
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import atexit
import errno
import fcntl

import pytest

from cwtest import BIN, HERE, Node, check_clean_exit, pid_alive

MAKE_CERTS = os.path.join(HERE, "make_certs.sh")
CERT_PEERS = 6
DEFAULT_PORT = 4371
CLUSTER_NAME = "cluster1.example.com"
DOMAIN = "example.com"
HEALTHY_STATES = ("active", "this-system")
# The product's guard against cluster-wide changes while the cluster
# settles (a peer joining or restarting): Cluster.set retries on it.
SETTLING = ("is joining", "is restarting", "announced a restart")

# Cluster alarm ids
A_COMM_FAILURE = 20004
A_DB_COMM_FAILURE = 20006
A_RESTART_REQUIRED = 20007
A_CONFLICT = 20011
A_NOT_IN_LIST = 20015
A_PRIMARY_UNREACHABLE = 20016
A_PRIMARY_INCONSISTENT = 20017
A_H323_MODE = 20018
A_NO_CLUSTER_NAME = 20019
A_TLS_MISMATCH = 20020
A_TCP_FAILING = 20021
A_INCONSISTENT = 20024
A_RTT = 20031
A_TYPE_MISMATCH = 20032
A_DUPLICATE_NAME = 20034
A_FACTORY_RESET = 20036

_certs = None


def certs_dir():
    """The folder of the test certificates (ca.crt, peerK.crt/.key for
    K = 1..6, peerK-untrusted.*, untrusted-ca.crt, wrong-san.*), made once
    per process and removed at exit."""
    global _certs
    if _certs is None:
        d = tempfile.mkdtemp(prefix="cwcerts")
        r = subprocess.run(["sh", MAKE_CERTS, d, str(CERT_PEERS)], capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("make_certs.sh failed: %s%s" % (r.stdout, r.stderr))
        atexit.register(shutil.rmtree, d, True)
        _certs = d
    return _certs


def address(k):
    return "127.0.1.%d" % k


def fqdn(k):
    return "peer%d.example.com" % k


def _port_free(host, port):
    """Can PORT be bound on HOST? An address that is not on this host's
    network namespace (a node in another namespace, netns.py) cannot be
    checked from here and counts as free."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the peer links do
    try:
        s.bind((host, port))
        return True
    except OSError as e:
        return e.errno == errno.EADDRNOTAVAIL
    finally:
        s.close()


LOCK_DIR = "/tmp/cw-cluster-ports"


def _lock(port):
    """An exclusive flock on LOCK_DIR/PORT (the open file, or None when
    another cluster of any test process holds it). Released when the file
    is closed or the process dies."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    f = open(os.path.join(LOCK_DIR, "%d.lock" % port), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except OSError:
        f.close()
        return None


def reserve_port(hosts, preferred=None):
    """(port, lock) for a cluster on HOSTS: $CW_CLUSTER_PORT if set (lock
    None), else 4371 when it and 4372 are free on every host and no other
    cluster of these tests holds it, else the first such pair from 24371
    up. The lock (a flock'ed file) keeps other clusters of these tests off
    the port for the cluster's life, including while its nodes restart and
    their listeners are briefly closed. Every peer of one cluster uses the
    same port, as in production."""
    forced = os.environ.get("CW_CLUSTER_PORT")
    if forced:
        return int(forced), None
    candidates = [preferred or DEFAULT_PORT] + list(range(24371, 25371, 2))
    for port in candidates:
        lock = _lock(port)
        if lock is None:
            continue
        if all(_port_free(h, port) and _port_free(h, port + 1) for h in hosts):
            return port, lock
        lock.close()
    raise RuntimeError("no free clustering port on %s" % (hosts,))


def pick_port(hosts, preferred=None):
    """The port reserve_port would give now (without keeping it)."""
    port, lock = reserve_port(hosts, preferred)
    if lock:
        lock.close()
    return port


def children_of(pid):
    """PIDs whose parent is PID (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def norm(value):
    """A config value as `causeway config get` prints it: lists
    comma-separated, booleans on/off, numbers as text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(norm(v) for v in value)
    if value is None:
        return ""
    return str(value)


def describe(r):
    """A CompletedProcess of the causeway CLI, for assertion messages."""
    return "causeway %s -> %d\nstdout: %s\nstderr: %s" % (
        " ".join(r.args[3:]) if isinstance(r.args, list) else r.args, r.returncode,
        r.stdout, r.stderr)


def mentions(*words):
    """A match= for wait_alarm: the alarm's detail, subject, title or action
    contains one of WORDS (its "peer" field names the peer that raised it,
    so it is left out)."""
    def match(alarm):
        text = " ".join(str(alarm.get(f) or "") for f in ("detail", "subject", "title", "action"))
        return any(w in text for w in words)
    return match


class Peer(Node):
    """A cwtest.Node with a peering section, its own copy of the TLS files,
    an optional command prefix (e.g. `ip netns exec NS`), and a crash/stop
    that finds every child even when causewayd does not answer."""

    def __init__(self, tmp_path, k, listen, port, cert_name=None, ca_name="ca.crt",
                 certs=None, wrapper=None, **sections):
        self.k = k
        self.address = listen
        self.wrapper = list(wrapper or [])
        certs = certs or certs_dir()
        self.tls_dir = os.path.join(str(tmp_path), "tls-peer%d" % k)
        os.makedirs(self.tls_dir, exist_ok=True)
        cert_name = cert_name or "peer%d" % k
        self.certificate = os.path.join(self.tls_dir, "peer.crt")
        self.private_key = os.path.join(self.tls_dir, "peer.key")
        self.ca_file = os.path.join(self.tls_dir, "ca.pem")
        shutil.copyfile(os.path.join(certs, cert_name + ".crt"), self.certificate)
        shutil.copyfile(os.path.join(certs, cert_name + ".key"), self.private_key)
        os.chmod(self.private_key, 0o600)
        shutil.copyfile(os.path.join(certs, ca_name), self.ca_file)
        peering = {"address": listen, "port": port, "port2": port + 1,
                   "certificate": self.certificate, "private_key": self.private_key,
                   "ca_file": self.ca_file}
        peering.update(sections.pop("peering", {}))
        # The supervisor's heartbeat as shipped (etc/causeway.conf), not
        # cwtest's 200 ms x 3: up to six nodes share two cores here, and an
        # actor killed for a late heartbeat would fail a cluster test for a
        # reason that is not the cluster's.
        supervisor = {"heartbeat_ms": 1000, "heartbeat_misses": 3}
        supervisor.update(sections.pop("supervisor", {}))
        super().__init__(tmp_path, name="peer%d" % k, peering=peering, supervisor=supervisor, **sections)
        self.log = None

    def start(self, wait=True, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [os.path.join(BIN, "causewayd"), "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_running(timeout)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_running(self, timeout=30, not_pids=()):
        """Every actor running, none of them with a pid in NOT_PIDS."""
        names = [a["name"] for a in self.actor_specs]
        bad = set(not_pids)

        def ready():
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError("causewayd of %s exited (%s); log:\n%s" % (
                    self.name, self.proc and self.proc.returncode, self.read_log()))
            try:
                actors = self.actors(timeout_ms=1000)
            except Exception:
                return False
            return all(actors.get(n, {}).get("state") == "running"
                       and actors[n].get("pid") not in bad for n in names)
        self.wait_for(ready, timeout, lambda: "actors of %s not all running after %ss: %s\nlog:\n%s" % (
            self.name, timeout, self._actors_text(), self.read_log()))

    def _actors_text(self):
        try:
            return {n: (a.get("state"), a.get("pid")) for n, a in self.actors(timeout_ms=1000).items()}
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return "actors.list failed: %r" % e

    def actor_pids(self):
        try:
            return {n: a["pid"] for n, a in self.actors(timeout_ms=2000).items() if a.get("pid")}
        except Exception:
            return {}

    def _ours(self, pid):
        """Is PID (still) a process of this node: its command line names
        this node's bootstrap file? (A pid seen earlier may have been
        reused by someone else's process since: never signal that.)"""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.conf.encode() in f.read().split(b"\0")
        except OSError:
            return False

    def _all_pids(self):
        """causewayd's children now (actors and any standby process)."""
        return {p for p in children_of(self.proc.pid) if self._ours(p)} if self.proc else set()

    def restart(self, timeout=60):
        """`causeway restart`, then wait until every actor runs again (new
        pids: causewayd re-executes itself, keeping its own pid)."""
        old = set(self.actor_pids().values())
        r = self.cli("restart")
        assert r.returncode == 0, describe(r)
        self.wait_running(timeout, not_pids=old)

    def kill9(self):
        """A crash of the whole node: causewayd and every actor frozen
        (SIGSTOP) first, so that none of them sees another die and reacts
        (an actor that notices its supervisor gone would announce a
        restart), then all SIGKILLed."""
        if not self.running():
            self.proc = None
            return
        daemon = self.proc.pid
        os.kill(daemon, signal.SIGSTOP)         # spawns nothing from now on
        pids = self._all_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        for pid in [daemon] + list(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, timeout=15):
        """SIGTERM causewayd and wait (SIGKILL after TIMEOUT); then SIGKILL
        whatever of its children is left. Fails unless causewayd exited 0
        and no process of the node wrote a sanitizer report (a leak)."""
        if self.proc is None:
            return
        pids = self._all_pids()
        status = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                status = "killed after %ss" % timeout
        for pid in pids:
            if pid_alive(pid) and self._ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        check_clean_exit(self.name, status, self.log_path)


class Cluster:
    """N nodes meant to form one cluster. Nothing runs until start()."""

    def __init__(self, tmp_path, n, tls_verify="permissive", primary=1, certs=None,
                 cert_names=None, ca_names=None, fqdns=False, name=CLUSTER_NAME,
                 domain=DOMAIN, addresses=None, wrappers=None, port=None, node_sections=None):
        self.dir = str(tmp_path)
        os.makedirs(self.dir, exist_ok=True)
        self.n = n
        self.tls_verify = tls_verify
        self.primary = primary
        self.fqdns = fqdns
        self.name = name
        self.domain = domain
        self.addresses = list(addresses) if addresses else [address(k) for k in range(1, n + 1)]
        self.port_lock = None
        if port:
            self.port = port
        else:
            self.port, self.port_lock = reserve_port(self.addresses)
        self.nodes = {}
        cert_names = cert_names or {}
        ca_names = ca_names or {}
        wrappers = wrappers or {}
        node_sections = node_sections or {}
        for k in range(1, n + 1):
            self.nodes[k] = Peer(self.dir, k, self.addresses[k - 1], self.port,
                                 cert_name=cert_names.get(k), ca_name=ca_names.get(k, "ca.crt"),
                                 certs=certs, wrapper=wrappers.get(k), **node_sections.get(k, {}))

    def __getitem__(self, k):
        return self.nodes[k]

    def __iter__(self):
        return iter(self.nodes.values())

    # -- processes -------------------------------------------------------
    def start(self, *which, timeout=30):
        """Start nodes WHICH (default: all), each waited for: start(3)
        brings node 3 back after kill9(3)."""
        for k in which or list(self.nodes):
            self.nodes[k].start(timeout=timeout)
        return self

    def restart(self, k, timeout=60):
        self.nodes[k].restart(timeout)

    def kill9(self, k):
        self.nodes[k].kill9()

    def cleanup(self):
        errors = []
        for node in self.nodes.values():
            try:
                node.stop()
            except Exception as e:  # noqa: BLE001 - stop the others anyway
                errors.append(repr(e))
            shutil.rmtree(node.run_dir, ignore_errors=True)
        if self.port_lock:
            self.port_lock.close()
            self.port_lock = None
        if errors:
            raise RuntimeError("cleanup: %s" % errors)

    def running(self):
        return [k for k, node in self.nodes.items() if node.running()]

    # -- CLI / control -----------------------------------------------------
    def cli(self, k, *args, **kw):
        return self.nodes[k].cli(*args, **kw)

    def ok(self, k, *args, **kw):
        """Run causeway on node K, assert exit 0, return stdout."""
        r = self.nodes[k].cli(*args, **kw)
        assert r.returncode == 0, "on node %d: %s" % (k, describe(r))
        return r.stdout

    def json(self, k, *args, **kw):
        return json.loads(self.ok(k, "--json", *args, **kw))

    def set(self, k, key, value, *flags, settle=60):
        """`config set KEY VALUE [FLAGS]` on node K, asserting exit 0.
        The product refuses a cluster-wide change for a moment while a peer
        is joining (it lags a heartbeat behind its snapshot) or announced a
        restart: that refusal, and only that one, is retried for up to
        SETTLE seconds (0: never). Tests of the refusal itself use cli()."""
        deadline = time.monotonic() + settle
        while True:
            r = self.nodes[k].cli("config", "set", key, norm(value), *flags)
            if r.returncode == 0:
                return r.stdout
            if not any(w in r.stderr for w in SETTLING) or time.monotonic() > deadline:
                raise AssertionError("on node %d: %s" % (k, describe(r)))
            time.sleep(0.25)

    def get(self, k, key):
        """The value of KEY on node K as config.get returns it (typed)."""
        status, body = self.nodes[k].call("config.get", {"key": key})
        assert status == "ok", "config.get %s on node %d: %s" % (key, k, body)
        return body["value"]

    def status(self, k, timeout_ms=10000):
        """cluster.status of node K (the JSON body), None if it did not
        answer "ok"."""
        try:
            status, body = self.nodes[k].call("cluster.status", {}, timeout_ms)
        except Exception:
            return None
        return body if status == "ok" else None

    def peer(self, k, address_or_index):
        """The peers[] entry about ADDRESS_OR_INDEX in node K's status."""
        st = self.status(k)
        if not st:
            return None
        for p in st.get("peers", []):
            if p.get("address") == address_or_index or p.get("index") == address_or_index:
                return p
        return None

    def about(self, k):
        """A match= for alarms that name node K (its address, FQDN or system
        name as the harness set them)."""
        return mentions(self.nodes[k].address, fqdn(k), "peer%d" % k, "peer %d" % k)

    # -- alarms ----------------------------------------------------------
    def alarms(self, k, alarm_id=None):
        status, body = self.nodes[k].call("alarms.list", {})
        assert status == "ok", "alarms.list on node %d: %s" % (k, body)
        return [a for a in body["alarms"] if a.get("state") != "cleared"
                and (alarm_id is None or a.get("id") == alarm_id)]

    def alarm_ids(self, k):
        return {a["id"] for a in self.alarms(k)}

    def wait_alarm(self, k, alarm_id, present=True, timeout=30, match=None):
        """Wait until node K has (PRESENT) or no longer has an active alarm
        ALARM_ID for which MATCH(alarm) is true (any when MATCH is None).
        Returns the alarm when present."""
        match = match or (lambda a: True)
        found = []

        def check():
            try:
                hits = [a for a in self.alarms(k, alarm_id) if match(a)]
            except Exception:
                return False
            found[:] = hits
            return bool(hits) if present else not hits
        Node.wait_for(check, timeout, lambda: "node %d: alarm %d %s after %ss; alarms: %s\nstatus: %s\nlog:\n%s" % (
            k, alarm_id, "not raised" if present else "still raised", timeout,
            json.dumps(self._safe_alarms(k), indent=1), json.dumps(self.status(k), indent=1),
            self.nodes[k].read_log()))
        return found[0] if present else None

    def _safe_alarms(self, k):
        try:
            return self.alarms(k)
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return repr(e)

    # -- the guide's procedures ---------------------------------------------
    def peer_list(self, members=None):
        """The peer list for nodes MEMBERS (default all), in that order."""
        members = members or list(self.nodes)
        return [fqdn(k) if self.fqdns else self.nodes[k].address for k in members]

    def mapping(self, members=None):
        members = members or list(self.nodes)
        return ["%s=%s" % (fqdn(k), self.nodes[k].address) for k in members]

    def configure(self, k, members=None, primary=None, tls_verify=None):
        """The clustering fields of node K, set the guide's way (they take
        effect at the next restart). The cluster-wide address mapping is
        set first when the peers are FQDNs (the node is standalone then)."""
        members = members or list(self.nodes)
        if self.fqdns:
            self.set(k, "cluster.address_mapping.enabled", "on")
            self.set(k, "cluster.address_mapping", self.mapping(members))
        self.set(k, "dns.domain", self.domain)
        self.set(k, "dns.hostname", "peer%d" % k)
        self.set(k, "cluster.name", self.name)
        self.set(k, "cluster.primary", primary or self.primary)
        self.set(k, "cluster.ip_version", "4")
        self.set(k, "cluster.tls_verify", tls_verify or self.tls_verify)
        self.set(k, "cluster.peers", self.peer_list(members))

    def form_guide_way(self, members=None, wait=True, timeout=120):
        """Every member configured (the primary first), then restarted (the
        primary first, each one running again before the next), then wait
        until every member sees every member active."""
        members = members or list(self.nodes)
        primary_node = members[self.primary - 1]
        order = [primary_node] + [k for k in members if k != primary_node]
        for k in order:
            self.configure(k, members)
        for k in order:
            self.restart(k)
        if wait:
            self.wait_formed(members, timeout=timeout)

    def formed(self, k, members, primary=None, tls_verify=None):
        """Is node K's view that of a healthy cluster of MEMBERS (in
        peer-list order), with PRIMARY and TLS_VERIFY in effect when given?"""
        st = self.status(k)
        if not st:
            return False
        expected = self.peer_list(members)
        peers = st.get("peers") or []
        if st.get("database") != "active" or st.get("this_peer") != members.index(k) + 1:
            return False
        if primary is not None and st.get("primary") != primary:
            return False
        if tls_verify is not None and st.get("tls_verify") != tls_verify:
            return False
        if [p.get("address") for p in peers] != expected:
            return False
        for p in peers:
            want = "this-system" if p.get("index") == st["this_peer"] else "active"
            if p.get("state") != want:
                return False
        return True

    def wait_formed(self, members=None, timeout=120, primary=None, tls_verify=None):
        """Wait until every node of MEMBERS (default all) sees every member
        active (this-system for itself) in peer-list order, with its
        database active (and PRIMARY / TLS_VERIFY in effect when given)."""
        members = members or list(self.nodes)
        Node.wait_for(lambda: all(self.formed(k, members, primary, tls_verify) for k in members), timeout,
                      lambda: "cluster of %s not formed after %ss:\n%s" % (
                          members, timeout, self.report(members)))

    def wait_state(self, k, address_or_index, states, timeout=30):
        """Wait until node K reports the peer in one of STATES."""
        if isinstance(states, str):
            states = (states,)
        Node.wait_for(lambda: (self.peer(k, address_or_index) or {}).get("state") in states, timeout,
                      lambda: "node %d: peer %s not %s after %ss:\n%s" % (
                          k, address_or_index, "/".join(states), timeout, self.report([k])))
        return self.peer(k, address_or_index)

    def wait_replicated(self, key, value, timeout=30, nodes=None):
        """Wait until KEY reads VALUE (compared as the CLI prints it) on
        every node of NODES (default: every running node)."""
        nodes = nodes or self.running()
        want = norm(value)
        seen = {}

        def check():
            for k in nodes:
                try:
                    seen[k] = norm(self.get(k, key))
                except Exception as e:  # noqa: BLE001 - retry
                    seen[k] = repr(e)
            return all(seen.get(k) == want for k in nodes)
        Node.wait_for(check, timeout, lambda: "%s=%s not on every node of %s after %ss: %s\n%s" % (
            key, want, nodes, timeout, seen, self.report(nodes)))

    def report(self, nodes=None):
        """What each node says now: cluster status, alarms, log tail."""
        out = []
        for k in nodes or self.nodes:
            node = self.nodes[k]
            out.append("--- node %d (%s, %s) running=%s" % (k, node.name, node.address, node.running()))
            if node.running():
                out.append("status: %s" % json.dumps(self.status(k)))
                alarms = self._safe_alarms(k)
                if isinstance(alarms, list):
                    alarms = [(a.get("id"), a.get("detail")) for a in alarms]
                out.append("alarms: %s" % json.dumps(alarms))
            out.append("log tail:\n%s" % node.read_log()[-2500:])
        return "\n".join(out)


def tamper_cluster_db(node, key, old, new):
    """Change KEY's stored value in NODE's cluster.db (the node stopped):
    a subordinate whose copy of the cluster-wide configuration went wrong."""
    path = os.path.join(node.state_dir, "cluster.db")
    assert os.path.exists(path), "no %s in %s" % ("cluster.db", node.state_dir)
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM cluster_config WHERE key = ?", (key,)).fetchone()
        assert row and str(old) in row[0], "cluster_config row for %s: %r" % (key, row)
        db.execute("UPDATE cluster_config SET value = ? WHERE key = ?",
                   (row[0].replace(str(old), str(new)), key))
        db.commit()
    finally:
        db.close()


KEEP_LOGS = os.environ.get("CW_CLUSTER_LOGS", "/tmp/cw-cluster-logs")


def keep_logs(clusters, test_name):
    """Copy the node logs of CLUSTERS to KEEP_LOGS/TEST_NAME (pytest's
    tmp_path folders are rotated away, also by other pytest runs)."""
    dest = os.path.join(KEEP_LOGS, "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in test_name))
    os.makedirs(dest, exist_ok=True)
    for i, c in enumerate(clusters):
        for node in c:
            if os.path.exists(node.log_path):
                shutil.copyfile(node.log_path, os.path.join(dest, "cluster%d-%s.log" % (i, node.name)))
    return dest


@pytest.fixture
def make_cluster(tmp_path, request):
    """make_cluster(n, start=True, **Cluster kwargs) -> a Cluster under
    tmp_path; every process of every cluster made is stopped at teardown.
    When the test failed, the node logs are kept under $CW_CLUSTER_LOGS
    (default /tmp/cw-cluster-logs/<test>/)."""
    made = []
    failed_before = request.session.testsfailed

    def make(n, start=True, **kw):
        c = Cluster(tmp_path / ("cluster%d" % len(made)), n, **kw)
        made.append(c)
        if start:
            c.start()
        return c
    yield make
    if request.session.testsfailed > failed_before and made:
        try:
            print("node logs kept in", keep_logs(made, request.node.name))
        except OSError:
            pass
    errors = []
    for c in made:
        try:
            c.cleanup()
        except Exception as e:  # noqa: BLE001 - clean the others anyway
            errors.append(repr(e))
    assert not errors, errors
