#!/usr/bin/python3
"""bench_sip.py - the SIP registrar side by side with Kamailio, and the
cluster-wide location table, on real processes.

In one run:
  1. REGISTER/s: the same sipp load (tools/bench/sip/reg.xml, a fixed list
     of --users users, -r --rate -l --limit -m --calls) against Kamailio
     5.6 as a memory-only registrar (usrloc db_mode 0, -m 512 -M 16,
     children 4, on 127.0.2.10:5070) and against a one-peer Causeway
     (causewayd with a UDP SIP listener on 127.0.1.1:5060, no
     authentication, a desktop_systems key for every user installed as
     tests/integration/test_license.py does). The first --users REGISTERs
     are new devices (each takes a license), the rest refreshes. Printed:
     REGISTER/s of each and the ratio Causeway/Kamailio.
  2. On a 3-peer Causeway cluster (127.0.1.1..3, formed the guide's way):
     a. a registration made on peer 1 until it is in peer 3's location
        table, --samples times one at a time: the bench sends a REGISTER
        from its own UDP socket and takes the wall clock just before the
        send; peer 3 runs at log level debug, and its routing actor logs
        each change message it applies with the wall clock of the moment
        the table holds it ("... applied (last AOR) at_us=T"). Both clocks
        are this machine's CLOCK_REALTIME. Printed: median, p90, p99, max
        from the REGISTER sent, and from the 200 received.
     b. --big registrations made on peer 1 (sipp, several users at a time),
        until all are in peer 3's table (routing.status, polled);
     c. full sync: peer 3's routing actor restarted (control
        actors.restart); the time from the request until its table holds
        all of peer 1's bindings again (the "loaded" line of its log, wall
        clock) and the pull's own time (from its first request);
     d. RSS of the routing actors holding the --big registrations: peer 1
        (its own, with its change log) and peer 3 (a copy), from
        /proc/PID/status.

usage: bench_sip.py [--bin DIR] [--users 20000] [--calls 200000]
                    [--rate 100000] [--limit 200] [--samples 300]
                    [--big 100000] [--skip-kamailio] [--skip-single]
                    [--skip-cluster] [--debug-peer1]
CW_BENCH_KEEP=1 keeps the work folder (node logs, sipp files).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))

DOMAIN = "example.com"
KAMAILIO_ADDR = ("127.0.2.10", 5070)
SIPP_KAMAILIO_IP = "127.0.2.101"
SIPP_CAUSEWAY_IP = "127.0.1.101"
LATENCY_IP = "127.0.1.102"
SIP_PORT = 5060
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=4
listen=udp:%(host)s:%(port)d
auto_aliases=no
mpath="%(modules)s"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
modparam("usrloc", "db_mode", 0)
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (has_totag()) {
        if (loose_route()) {
            t_relay();
        }
        exit;
    }
    if (is_method("REGISTER")) {
        save("location");
        exit;
    }
    if (is_method("INVITE")) {
        record_route();
    }
    if (!lookup("location")) {
        sl_send_reply("404", "Not Found");
        exit;
    }
    t_relay();
}
"""


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def users_csv(path, prefix, count):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(count):
            f.write("%s%06d;%s\n" % (prefix, i, DOMAIN))
    return path


def sipp(work, name, target, csv, calls, rate, limit, local_ip, port, timeout=600):
    """Run the REGISTER scenario; (successful, failed, seconds)."""
    stat = os.path.join(work, name + ".stat.csv")
    args = ["sipp", "%s:%d" % target, "-sf", os.path.join(HERE, "sip", "reg.xml"), "-inf", csv,
            "-i", local_ip, "-p", str(port), "-r", str(rate), "-l", str(limit), "-m", str(calls),
            "-nostdin", "-timeout", "%ds" % timeout, "-timeout_error", "-max_recv_loops", "10000",
            "-trace_stat", "-stf", stat, "-fd", "1", "-trace_err", "-error_file", os.path.join(work, name + ".err")]
    start = time.perf_counter()
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
                       timeout=timeout + 60)
    elapsed = time.perf_counter() - start
    ok = failed = None
    try:
        with open(stat) as f:
            rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
        header, last = rows[0], rows[-1]
        ok = int(last[header.index("SuccessfulCall(C)")])
        failed = int(last[header.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        pass
    if ok is None:
        m = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        f = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        ok = int(m[-1]) if m else 0
        failed = int(f[-1]) if f else calls - ok
    if r.returncode != 0 and ok == 0:
        raise RuntimeError("sipp (%s) failed: %s\n%s" % (name, r.stderr[-2000:], r.stdout[-2000:]))
    return ok, failed, elapsed


# ---------------------------------------------------------------------------
# 1. Kamailio

def kamailio_rate(opts, work, csv):
    kam = shutil.which("kamailio")
    if not kam:
        print("kamailio: not installed (tools/setup-deps.sh installs it): skipped")
        return None
    folder = os.path.join(work, "kamailio")
    os.makedirs(folder)
    cfg = os.path.join(folder, "kamailio.cfg")
    with open(cfg, "w") as f:
        f.write(KAMAILIO_CFG % {"host": KAMAILIO_ADDR[0], "port": KAMAILIO_ADDR[1], "modules": KAMAILIO_MODULES})
    log = open(os.path.join(folder, "kamailio.log"), "w")
    proc = subprocess.Popen([kam, "-f", cfg, "-P", os.path.join(folder, "kamailio.pid"), "-w", folder,
                             "-DD", "-E", "-m", "512", "-M", "16"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not _udp_answers(KAMAILIO_ADDR):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kamailio did not start:\n%s" % open(log.name).read()[-3000:])
            time.sleep(0.2)
        ok, failed, elapsed = sipp(work, "kamailio", KAMAILIO_ADDR, csv, opts.calls, opts.rate, opts.limit,
                                   SIPP_KAMAILIO_IP, 5090)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    rate = ok / elapsed
    print("Kamailio 5.6 (memory-only registrar, -m 512 -M 16, children 4): %d REGISTERs (%d users), "
          "%d answered 200, %d failed in %.2f s: %.0f REGISTER/s" % (opts.calls, opts.users, ok, failed, elapsed,
                                                                    rate))
    return rate


def _udp_answers(addr):
    """Does ADDR answer an OPTIONS over UDP (any response)?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.bind((SIPP_KAMAILIO_IP if addr == KAMAILIO_ADDR else LATENCY_IP, 0))
        port = s.getsockname()[1]
        ip = s.getsockname()[0]
        s.sendto(("OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-probe%d\r\n"
                  "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p\r\nTo: <sip:probe@%s>\r\n"
                  "Call-ID: probe-%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                  % (addr[0], addr[1], ip, port, time.time_ns(), DOMAIN, DOMAIN, time.time_ns(), ip)).encode(), addr)
        s.recvfrom(65536)
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Causeway nodes

class Issuer:
    def __init__(self, bin_dir, folder):
        self.bin = bin_dir
        subprocess.run([os.path.join(bin_dir, "causeway-license"), "keygen", folder], check=True,
                       capture_output=True)
        self.pub = os.path.join(folder, "issuer.pub")
        self.key = os.path.join(folder, "issuer.key")

    def issue(self, kind, count):
        r = subprocess.run([os.path.join(self.bin, "causeway-license"), "issue", "--key", self.key, "--kind", kind,
                            "--count", str(count)], check=True, capture_output=True, text=True)
        return r.stdout.strip()


def call(node, command, args=None, timeout_ms=30000):
    status, body = node.call(command, args or {}, timeout_ms)
    if status != "ok":
        raise RuntimeError("%s on %s: %s" % (command, node.name, body))
    return body


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError("timed out: %s" % what)


def wait_listening(node):
    def bound():
        body = call(node, "routing.status")
        return body.get("listeners") and all(
            l.get("state") in ("listening", "bound", "up") for l in body["listeners"])
    wait_for(bound, 30, "SIP listeners of %s" % node.name)


def sip_section(k):
    return {"listen": ["udp:127.0.1.%d:%d" % (k, SIP_PORT), "tcp:127.0.1.%d:%d" % (k, SIP_PORT)]}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def causeway_rate(opts, work, csv, issuer):
    from cwtest import ACTORS, Node
    actors = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    node = Node(work, name="single", actors=actors, licensing={"issuers": [issuer.pub]}, sip=sip_section(1),
                node={"log_level": "warn"}, supervisor={"heartbeat_ms": 1000, "request_timeout_ms": 30000})
    node.start(timeout=30)
    try:
        wait_listening(node)
        call(node, "config.set", {"key": "sip.domains", "value": DOMAIN})
        call(node, "license.add", {"key": issuer.issue("desktop_systems", opts.users)})
        ok, failed, elapsed = sipp(work, "causeway", ("127.0.1.1", SIP_PORT), csv, opts.calls, opts.rate,
                                   opts.limit, SIPP_CAUSEWAY_IP, 5090)
        status = call(node, "routing.status")
        bindings = status.get("registrar", {}).get("bindings")
        pid = node.actors()["routing"]["pid"]
        rss, hwm = rss_kib(pid)
    finally:
        node.cleanup()
    rate = ok / elapsed
    print("Causeway, one peer (UDP 127.0.1.1:5060, no authentication, a license per device): %d REGISTERs "
          "(%d users), %d answered 200, %d failed in %.2f s: %.0f REGISTER/s; %s bindings after, routing actor "
          "RSS %.1f MiB" % (opts.calls, opts.users, ok, failed, elapsed, rate, bindings, rss / 1024.0))
    return rate


# ---------------------------------------------------------------------------
# 2. The cluster

class LogTail:
    """New lines of a log file since the last read."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path)
        self.rest = b""

    def lines(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.rest + data
        parts = data.split(b"\n")
        self.rest = parts.pop()
        return [p.decode(errors="replace") for p in parts]


def log_time_us(line):
    """The wall clock of a log line's stamp (ms resolution), in us."""
    stamp = line.split(" ", 1)[0]
    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1e6)


def register_once(sock, user, port, seq):
    ip = LATENCY_IP
    msg = ("REGISTER sip:%s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-lat-%d-%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:%s@%s>;tag=lat%d\r\n"
           "To: <sip:%s@%s>\r\n"
           "Call-ID: lat-%s-%d@%s\r\n"
           "CSeq: 1 REGISTER\r\n"
           "Contact: <sip:%s@%s:%d>\r\n"
           "Expires: 3600\r\n"
           "User-Agent: bench-sip\r\n"
           "Content-Length: 0\r\n\r\n" % (DOMAIN, ip, port, os.getpid(), seq, user, DOMAIN, seq, user, DOMAIN,
                                          user, os.getpid(), ip, user, ip, port))
    sent = time.time_ns() // 1000
    sock.sendto(msg.encode(), ("127.0.1.1", SIP_PORT))
    while True:
        data, _ = sock.recvfrom(65536)
        answered = time.time_ns() // 1000
        first = data.split(b"\r\n", 1)[0]
        if first.startswith(b"SIP/2.0 1"):
            continue
        if not first.startswith(b"SIP/2.0 200"):
            raise RuntimeError("REGISTER of %s: %s" % (user, first.decode(errors="replace")))
        return sent, answered


def cluster_bench(opts, work, issuer):
    from cwcluster import Cluster
    sections = {}
    for k in (1, 2, 3):
        sections[k] = {"licensing": {"issuers": [issuer.pub]}, "sip": sip_section(k),
                       "node": {"log_level": "debug" if k == 3 or (k == 1 and opts.debug_peer1) else "warn"},
                       "supervisor": {"request_timeout_ms": 30000}}
    c = Cluster(os.path.join(work, "cluster"), 3, node_sections=sections)
    try:
        c.start()
        c.form_guide_way()
        for k in (1, 2, 3):
            wait_listening(c[k])
        c.set(1, "sip.domains", DOMAIN)
        c.wait_replicated("sip.domains", [DOMAIN])
        call(c[1], "license.add", {"key": issuer.issue("desktop_systems", 3 * opts.big + 3 * opts.samples + 1000)})
        time.sleep(2)    # the pool's shares settle

        # a. one registration on peer 1 until peer 3's table holds it
        tail = LogTail(c[3].log_path)
        tail1 = LogTail(c[1].log_path)
        to_sent = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LATENCY_IP, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        from_sent, from_ok = [], []
        for i in range(opts.samples if opts.samples > 0 else 0):
            user = "lat%05d" % i
            sent, answered = register_once(sock, user, port, i)
            needle = "(last sip:%s@%s) at_us=" % (user, DOMAIN)
            deadline = time.monotonic() + 5
            applied = None
            while applied is None:
                for line in tail.lines():
                    if needle in line:
                        applied = int(line.rsplit("at_us=", 1)[1].split()[0])
                if applied is None:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.0005)
            if applied is None:
                print("registration on peer 1 -> in peer 3's location table: peer 3 never logged %s (a build "
                      "whose routing actor does not log the changes it applies): not measured" % needle)
                break
            from_sent.append((applied - sent) / 1000.0)
            from_ok.append((applied - answered) / 1000.0)
            if opts.debug_peer1:
                flushed = [int(l.rsplit("at_us=", 1)[1].split()[0]) for l in tail1.lines()
                           if "routing: location changes" in l and " sent at_us=" in l]
                if flushed:
                    to_sent.append(((flushed[-1] - sent) / 1000.0, (applied - flushed[-1]) / 1000.0))
            time.sleep(0.01)
        sock.close()
        if from_sent:
            print("registration on peer 1 -> in peer 3's location table (n=%d, one at a time): from the REGISTER "
                  "sent: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; from the 200 received: median "
                  "%.2f ms, p99 %.2f ms" % (len(from_sent), statistics.median(from_sent), percentile(from_sent, 90),
                                            percentile(from_sent, 99), max(from_sent), statistics.median(from_ok),
                                            percentile(from_ok, 99)))

        if to_sent:
            print("  of which REGISTER sent -> peer 1 broadcasts the change: median %.2f ms; broadcast -> applied "
                  "on peer 3: median %.2f ms, p99 %.2f ms (peer 1 at log level debug)"
                  % (statistics.median([a for a, b in to_sent]), statistics.median([b for a, b in to_sent]),
                     percentile([b for a, b in to_sent], 99)))

        # b. BIG registrations on peer 1, until all are on peer 3
        csv = users_csv(os.path.join(work, "big.csv"), "big", opts.big)

        def on_peer3():
            return call(c[3], "routing.status").get("registrar", {}).get("per_peer", {}).get("1", 0)
        start = time.perf_counter()
        ok, failed, elapsed = sipp(work, "big", ("127.0.1.1", SIP_PORT), csv, opts.big, opts.rate, opts.limit,
                                   SIPP_CAUSEWAY_IP, 5091)
        want = len(from_sent) + ok
        try:
            wait_for(lambda: on_peer3() >= want, 60, "peer 3 holding %d of peer 1's bindings" % want)
            pushed = time.perf_counter() - start
            print("%d REGISTERs on peer 1 (new devices, sipp -r %d -l %d): %d answered 200, %d failed in %.2f s "
                  "(%.0f REGISTER/s); all in peer 3's table %.2f s after the first was sent (%.2f s after sipp "
                  "ended)" % (opts.big, opts.rate, opts.limit, ok, failed, elapsed, ok / elapsed, pushed,
                              pushed - elapsed))
        except RuntimeError:
            print("%d REGISTERs on peer 1: %d answered 200 in %.2f s; peer 3 holds only %d of %d after 60 s; its "
                  "sync: %s" % (opts.big, ok, elapsed, on_peer3(), want,
                                call(c[3], "routing.status").get("registrar", {}).get("sync")))

        # d (first part). RSS with the table full
        pids = {k: c[k].actors()["routing"]["pid"] for k in (1, 3)}
        rss = {k: rss_kib(pids[k]) for k in (1, 3)}

        # c. full sync to a restarted routing actor on peer 3
        tail = LogTail(c[3].log_path)
        old_pid = pids[3]
        t0 = time.time_ns() // 1000
        call(c[3], "actors.restart", {"name": "routing"})
        loaded = None
        deadline = time.monotonic() + 60
        pattern = re.compile(r"routing: location of peer 1 loaded: (\d+) bindings in (\d+) page\(s\), (\d+) ms "
                             r"after the pull began.* at_us=(\d+)")
        while loaded is None and time.monotonic() < deadline:
            for line in tail.lines():
                m = pattern.search(line)
                if m and int(m.group(1)) >= want:
                    loaded = m
                    break
                m = re.search(r"routing: location of peer 1 loaded: (\d+) bindings", line)
                if m and int(m.group(1)) >= want:       # the log line of the first version
                    loaded = m
                    break
            time.sleep(0.01)
        if loaded is None:
            status = call(c[3], "routing.status").get("registrar", {})
            print("full sync of %d registrations to peer 3's restarted routing actor: NOT COMPLETE after 60 s "
                  "(peer 3 holds %s of peer 1's; sync %s)" % (want, status.get("per_peer", {}).get("1", 0),
                                                             status.get("sync")))
        else:
            line_us = int(loaded.group(4)) if loaded.re is pattern else log_time_us(loaded.string)
            extra = ""
            if loaded.re is pattern:
                extra = "; the pull itself (first page asked -> table loaded, %s page(s)): %s ms" % (
                    loaded.group(2), loaded.group(3))
            print("full sync of %d registrations to peer 3's restarted routing actor (actors.restart sent -> its "
                  "table holds them all): %.3f s%s" % (int(loaded.group(1)), (line_us - t0) / 1e6, extra))
            new_pid = c[3].actors()["routing"]["pid"]
            assert new_pid != old_pid
            rss[3] = rss_kib(new_pid)
        print("RSS of the routing actor holding %d registrations: peer 1 (its own, and its change log) %.1f MiB "
              "(peak %.1f MiB); peer 3 (a copy, after the full sync) %.1f MiB (peak %.1f MiB)"
              % (want, rss[1][0] / 1024.0, rss[1][1] / 1024.0, rss[3][0] / 1024.0, rss[3][1] / 1024.0))
    finally:
        for node in c:
            try:
                node.stop()
            except Exception as e:  # noqa: BLE001 - stop the others anyway
                print("stop %s: %r" % (node.name, e))
            shutil.rmtree(node.run_dir, ignore_errors=True)
        if c.port_lock:
            c.port_lock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=200000)
    parser.add_argument("--rate", type=int, default=100000)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--big", type=int, default=100000)
    parser.add_argument("--skip-kamailio", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--debug-peer1", action="store_true",
                        help="peer 1 at log level debug too: the latency split at peer 1's broadcast")
    opts = parser.parse_args()
    opts.bin = os.path.abspath(opts.bin)
    os.environ["CAUSEWAY_BIN"] = opts.bin
    if not shutil.which("sipp"):
        sys.exit("bench_sip: sipp (sip-tester) is not installed")
    work = tempfile.mkdtemp(prefix="cwbsip")
    try:
        issuer = Issuer(opts.bin, os.path.join(work, "issuer"))
        csv = users_csv(os.path.join(work, "users.csv"), "user", opts.users)
        kamailio = None if opts.skip_kamailio else kamailio_rate(opts, work, csv)
        causeway = None if opts.skip_single else causeway_rate(opts, work, csv, issuer)
        if kamailio and causeway:
            print("REGISTER/s Causeway/Kamailio: %.2f (target >= 1.5)" % (causeway / kamailio))
        if not opts.skip_cluster:
            cluster_bench(opts, work, issuer)
    finally:
        if not os.environ.get("CW_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)


if __name__ == "__main__":
    main()
