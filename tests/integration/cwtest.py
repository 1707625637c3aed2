"""cwtest - start real Causeway nodes for integration tests.

Node(tmp_path, name="peer1", supervisor={...}, alarms={...}, actors=[...])
writes a bootstrap file (runtime folder under /tmp so ipc paths stay short,
state under tmp_path), and gives:
  start()            run build/bin/causewayd, wait until every actor is running
  cli(*args)         run build/bin/causeway --config <file> ... (CompletedProcess)
  call(cmd, args)    one control request over ZeroMQ -> (status, body)
  actors()           {name: actor object} from actors.list
  wait_for(fn)       poll fn() until truthy or fail
  subscriber()       a zmq SUB socket on the first alarm publish endpoint
  kill9()            SIGKILL causewayd and every actor (a node crash)
  stop()             SIGTERM causewayd and wait; kill whatever is left; fail
                     unless causewayd exited 0 and no process of the node
                     wrote a sanitizer report (a leak, in the ASan build)
The binaries come from $CAUSEWAY_BIN (set by ctest), else ../../build/bin.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("CAUSEWAY_BIN") or os.path.normpath(os.path.join(HERE, "../../build/bin"))
ACTORS = ["alarms", "replication", "licensing", "tms", "routing", "webadmin"]


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(_value(x) for x in v) + " ]"
    return json.dumps(str(v))


def _group(d):
    return "{ " + " ".join("%s = %s;" % (k, _value(v)) for k, v in d.items()) + " }"


class Node:
    def __init__(self, tmp_path, name="peer1", actors=None, extra="", **sections):
        self.dir = str(tmp_path)
        self.name = name
        self.run_dir = tempfile.mkdtemp(prefix="cw", dir="/tmp")
        self.state_dir = os.path.join(self.dir, "state-" + name)
        self.conf = os.path.join(self.dir, name + ".conf")
        self.log_path = os.path.join(self.dir, name + ".log")
        self.proc = None
        self.known_pids = set()
        node = {"name": name, "type": "core", "runtime_dir": self.run_dir,
                "state_dir": self.state_dir, "log_level": "info"}
        node.update(sections.pop("node", {}))
        alarms = {"publish": ["ipc://%s/alarms" % self.run_dir], "heartbeat_ms": 1000}
        alarms.update(sections.pop("alarms", {}))
        supervisor = {"intensity": 5, "period_s": 30, "heartbeat_ms": 200,
                      "heartbeat_misses": 3, "shutdown_timeout_ms": 2000,
                      "request_timeout_ms": 3000}
        supervisor.update(sections.pop("supervisor", {}))
        control = {"endpoint": "ipc://%s/control" % self.run_dir}
        control.update(sections.pop("control", {}))
        self.actor_specs = actors if actors is not None else [
            {"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
        text = ["node: %s;" % _group(node), "control: %s;" % _group(control),
                "alarms: %s;" % _group(alarms), "supervisor: %s;" % _group(supervisor)]
        for section, values in sections.items():
            text.append("%s: %s;" % (section, _group(values)))
        text.append("actors = ( " + ", ".join(_group(a) for a in self.actor_specs) + " );")
        text.append(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(text) + "\n")
        self.endpoint = control["endpoint"]
        self.alarm_endpoint = alarms["publish"][0]
        self.ctx = zmq.Context.instance()

    # -- processes ---------------------------------------------------------
    def start(self, wait=True, timeout=20):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "causewayd"), "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            names = [a["name"] for a in self.actor_specs]
            self.wait_for(lambda: self._all_running(names), timeout,
                          "node %s did not start; log:\n%s" % (self.name, self.read_log()))
        return self

    def _all_running(self, names):
        try:
            actors = self.actors(timeout_ms=500)
        except Exception:
            return False
        for a in actors.values():
            if a.get("pid"):
                self.known_pids.add(a["pid"])
        return all(actors.get(n, {}).get("state") == "running" for n in names)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self, timeout=15):
        if not self.proc:
            return
        try:
            for a in self.actors(timeout_ms=500).values():
                if a.get("pid"):
                    self.known_pids.add(a["pid"])
        except Exception:
            pass
        status = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                status = "killed after %ss" % timeout
        for pid in self.known_pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc = None
        self.log.close()
        check_clean_exit(self.name, status, self.log_path)

    def kill9(self):
        """SIGKILL causewayd and every actor at once: a crash of the node."""
        actors = self.actors(timeout_ms=1000)
        pids = [a["pid"] for a in actors.values() if a.get("pid")]
        os.kill(self.proc.pid, signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None
        self.log.close()
        for pid in pids:
            wait_gone(pid)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- control -----------------------------------------------------------
    def cli(self, *args, timeout=30, env=None):
        e = dict(os.environ)
        e.pop("CAUSEWAY_ENDPOINT", None)
        if env:
            e.update(env)
        return check_cli(subprocess.run([os.path.join(BIN, "causeway"), "--config", self.conf]
                                        + [str(a) for a in args],
                                        capture_output=True, text=True, timeout=timeout, env=e))

    def call(self, command, args=None, timeout_ms=5000):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, timeout_ms)
        s.connect(self.endpoint)
        try:
            s.send_multipart([b"CW1", command.encode(), json.dumps(args or {}).encode()])
            frames = s.recv_multipart()
        finally:
            s.close()
        assert frames[0] == b"CW1", frames
        return frames[1].decode(), json.loads(frames[2])

    def actors(self, timeout_ms=2000):
        status, body = self.call("actors.list", {}, timeout_ms)
        assert status == "ok", body
        return {a["name"]: a for a in body["actors"]}

    def subscriber(self, topic=b""):
        s = self.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, topic)
        s.connect(self.alarm_endpoint)
        return s

    @staticmethod
    def wait_for(fn, timeout=10, message="condition not met"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(message() if callable(message) else message)


SANITIZER_REPORTS = ("ERROR: LeakSanitizer", "ERROR: AddressSanitizer", ": runtime error: ")


def sanitizer_report(text):
    """The first sanitizer report in TEXT (from its first line on), or None.
    Leak detection runs when a process of the ASan build exits; a leak makes
    it print a report and exit non-zero."""
    at = [text.find(r) for r in SANITIZER_REPORTS if r in text]
    if not at:
        return None
    start = text.rfind("\n", 0, min(at)) + 1
    return text[start:start + 6000]


def check_clean_exit(name, status, log_path):
    """After a clean stop: causewayd answered SIGTERM with exit 0 (STATUS is
    its exit status, None when it had exited before the stop: then the test
    owns that status), and no process of the node (causewayd, its actors and
    standbys share the log) wrote a sanitizer report."""
    try:
        with open(log_path, "rb") as f:
            report = sanitizer_report(f.read().decode(errors="replace"))
    except OSError:
        report = None
    if report:
        sys.stderr.write("node %s: sanitizer report in %s:\n%s\n" % (name, log_path, report))
        raise AssertionError("node %s: sanitizer report (%s) in %s" % (
            name, report.split("\n", 1)[0].strip(), log_path))
    if status is not None and status != 0:
        raise AssertionError("node %s: causewayd did not exit 0 on SIGTERM (%s); log %s" % (
            name, status, log_path))


def check_cli(r):
    """Fail when a CLI run (a CompletedProcess) wrote a sanitizer report."""
    report = sanitizer_report(r.stderr or "")
    if report:
        sys.stderr.write("causeway %s: sanitizer report:\n%s\n" % (" ".join(map(str, r.args[1:])), report))
        raise AssertionError("causeway %s: sanitizer report (%s)" % (
            " ".join(map(str, r.args[1:])), report.split("\n", 1)[0].strip()))
    return r


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=5):
    Node.wait_for(lambda: not pid_alive(pid), timeout, "pid %d still alive" % pid)


def recv_alarm(sock, topic_prefix, timeout_ms=5000):
    """Next (topic, body) on SOCK whose topic starts with TOPIC_PREFIX."""
    deadline = time.monotonic() + timeout_ms / 1000.0
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise AssertionError("no message with topic %s" % topic_prefix)
        if poller.poll(left):
            topic, body = sock.recv_multipart()
            if topic.decode().startswith(topic_prefix):
                return topic.decode(), json.loads(body)
