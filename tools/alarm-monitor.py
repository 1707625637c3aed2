#!/usr/bin/python3
"""alarm-monitor.py - keep the set of active alarms of a Causeway node and
print every change (Debian: python3-zmq).

usage: alarm-monitor.py [--json] [--config FILE | --endpoint ENDPOINT | ENDPOINT]

It subscribes to the node's alarm socket (the first `alarms.publish`
endpoint of the bootstrap file, or ENDPOINT; default
ipc:///run/causeway/alarms) and follows the recovery rule of the README
("The alarm socket"): every alarm message, heartbeat and snapshot carries
the node's sequence number "seq". A change numbered more than one past the
last change seen, or a heartbeat or snapshot past it, means messages were
lost (the monitor fell too far behind, or the alarms actor died between a
commit and its message): the monitor then reconnects, which makes the node
replay every active alarm and end with an "alarm.snapshot" message listing
them all; what the monitor held that is not in the snapshot was cleared
while it was not listening.

Output, one line per change on stdout: in text mode the topic, uuid,
severity, peer, title and detail (a clear learned from a snapshot ends with
"(cleared while not listening)"); with --json one object per line:
  {"event": "raised" | "updated" | "acknowledged" | "cleared", "alarm": {...}, "missed": false}
  {"event": "synced", "seq": 42, "peer": "peer1", "active": ["<uuid>", ...]}
  {"event": "gap", "expected": 41, "seq": 44, "topic": "alarm.raised.90001"}
  {"event": "silent", "endpoint": "...", "seconds": 15}   (no heartbeat for 3 periods)
In text mode the synced/gap/silent lines go to stderr. SIGINT or SIGTERM
ends it with status 0.
"""
import argparse
import json
import os
import re
import signal
import sys
import time

import zmq

DEFAULT_ENDPOINT = "ipc:///run/causeway/alarms"
SYNC_TIMEOUT_S = 5.0        # no snapshot (nor replay) this long after (re)connecting: connect again


# ---------------------------------------------------------------------------
# The bootstrap file (libconfig syntax): just enough to read alarms.publish,
# alarms.heartbeat_ms and node.runtime_dir / state_dir.

_TOKEN = re.compile(r'''\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/
                       |(?P<str>"(?:[^"\\]|\\.)*")
                       |(?P<word>[A-Za-z0-9_.+\-*]+)
                       |(?P<punct>[{}\[\]()=:;,])''', re.S | re.X)


def _tokens(text):
    at = 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if not m:
            raise ValueError("cannot read the bootstrap file near %r" % text[at:at + 20])
        at = m.end()
        if m.group("str"):
            yield ("str", json.loads(m.group("str")))
        elif m.group("word"):
            yield ("word", m.group("word"))
        elif m.group("punct"):
            yield ("punct", m.group("punct"))


def _parse_value(tokens, i):
    kind, value = tokens[i]
    if kind == "str":          # adjacent strings are one string
        parts = [value]
        while i + 1 < len(tokens) and tokens[i + 1][0] == "str":
            i += 1
            parts.append(tokens[i][1])
        return "".join(parts), i + 1
    if kind == "word":
        if value.lower() in ("true", "false"):
            return value.lower() == "true", i + 1
        try:
            return int(value.rstrip("Ll"), 0), i + 1
        except ValueError:
            return float(value), i + 1
    if value == "{":
        return _parse_group(tokens, i + 1, "}")
    if value in "[(":
        items, i = [], i + 1
        close = "]" if value == "[" else ")"
        while tokens[i] != ("punct", close):
            item, i = _parse_value(tokens, i)
            items.append(item)
            if tokens[i] == ("punct", ","):
                i += 1
        return items, i + 1
    raise ValueError("unexpected %r in the bootstrap file" % value)


def _parse_group(tokens, i, close):
    group = {}
    while i < len(tokens) and tokens[i] != ("punct", close):
        name = tokens[i][1]
        if tokens[i + 1][1] not in ("=", ":"):
            raise ValueError("expected = or : after %r in the bootstrap file" % name)
        group[name], i = _parse_value(tokens, i + 2)
        while i < len(tokens) and tokens[i] in (("punct", ";"), ("punct", ",")):
            i += 1
    return group, i + 1


def read_bootstrap(path):
    """(alarm endpoint, heartbeat_ms) from the bootstrap file at PATH."""
    with open(path) as f:
        conf, _ = _parse_group(list(_tokens(f.read())), 0, None)
    node, alarms = conf.get("node", {}), conf.get("alarms", {})
    folder = os.path.dirname(os.path.abspath(path))
    dirs = {}
    for key, default in (("runtime_dir", "/run/causeway"), ("state_dir", "/var/lib/causeway")):
        dirs[key] = os.path.normpath(os.path.join(folder, node.get(key, default)))

    def expand(text):
        return text.replace("${runtime_dir}", dirs["runtime_dir"]).replace("${state_dir}", dirs["state_dir"])
    publish = alarms.get("publish") or ["ipc://${runtime_dir}/alarms"]
    return expand(publish[0]), int(alarms.get("heartbeat_ms", 5000))


# ---------------------------------------------------------------------------
# The monitor

class Monitor:
    """The active alarms of one node, kept in step with its alarm socket."""

    def __init__(self, ctx, endpoint, heartbeat_ms, as_json):
        self.ctx = ctx
        self.endpoint = endpoint
        self.heartbeat_s = heartbeat_ms / 1000.0
        self.as_json = as_json
        self.active = {}           # uuid -> alarm object, as last known
        self.last = None           # seq of the last change seen (None: not in sync)
        self.pending = {}          # while resyncing: what the replay said so far
        self.sock = None
        self.connected_at = 0.0
        self.heard_at = time.monotonic()
        self.silent = False
        self.connect()

    # -- the socket ----------------------------------------------------------
    def connect(self):
        """(Re)subscribe with a new socket: the node replays the present and
        ends with a snapshot; until then nothing the monitor holds is trusted."""
        if self.sock is not None:
            self.sock.close(0)
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"alarm.")
        self.sock.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
        self.sock.connect(self.endpoint)
        self.last = None
        self.pending = {}
        self.connected_at = time.monotonic()

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    # -- output --------------------------------------------------------------
    def status(self, event, text):
        if self.as_json:
            print(json.dumps(event), flush=True)
        else:
            print("alarm-monitor: " + text, file=sys.stderr, flush=True)

    def change(self, event, alarm, missed=False):
        if self.as_json:
            print(json.dumps({"event": event, "alarm": alarm, "missed": missed}), flush=True)
            return
        state = "cleared" if missed else alarm.get("state", "?")
        line = "alarm.%s.%s %s %s %s %s - %s" % (
            state, alarm.get("id"), alarm.get("uuid"), alarm.get("severity"), alarm.get("peer"),
            alarm.get("title"), alarm.get("detail"))
        if missed:
            line += " (cleared while not listening)"
        print(line, flush=True)

    def apply(self, alarm, missed=False):
        """Make ALARM the known state of its uuid; print it if that is a change."""
        uuid = alarm.get("uuid")
        old = self.active.get(uuid)
        if alarm.get("state") == "cleared" or missed:
            if old is not None:
                del self.active[uuid]
                self.change("cleared", alarm, missed)
            return
        self.active[uuid] = alarm
        if old is None:
            self.change(alarm["state"], alarm)
        elif old.get("state") != alarm.get("state"):
            self.change(alarm["state"], alarm)
        elif {k: v for k, v in old.items() if k != "seq"} != {k: v for k, v in alarm.items() if k != "seq"}:
            self.change("updated", alarm)

    def gap(self, expected, seq, topic):
        """Messages were lost: resubscribe."""
        self.status({"event": "gap", "expected": expected, "seq": seq, "topic": topic},
                    "gap: expected seq %s, got %s at seq %s: messages were lost; resubscribing"
                    % (expected, topic, seq))
        self.connect()

    # -- messages ------------------------------------------------------------
    def on_message(self, topic, body):
        self.heard_at = time.monotonic()
        if self.silent:
            self.silent = False
            self.status({"event": "heard", "endpoint": self.endpoint},
                        "%s is publishing again" % self.endpoint)
        if not isinstance(body, dict):
            return
        seq = body.get("seq")
        if not isinstance(seq, int):   # a node without sequence numbers: nothing to check
            if topic.startswith("alarm.") and topic != "alarm.snapshot" and "uuid" in body:
                self.apply(body)
            return
        if self.last is None:
            self.resyncing(topic, body, seq)
        elif topic == "heartbeat":
            if seq != self.last:   # past: lost changes; behind: the table was replaced
                self.gap(self.last, seq, topic)
        elif topic == "alarm.snapshot":
            if seq != self.last or set(body.get("uuids", [])) != set(self.active):
                self.gap(self.last, seq, topic)
        elif topic.startswith("alarm."):
            if seq > self.last + 1:
                self.gap(self.last + 1, seq, topic)
                return
            if seq == self.last + 1:
                self.last = seq    # the next change
            self.apply(body)       # else a replay to another subscriber: the present

    def resyncing(self, topic, body, seq):
        """Before the snapshot: collect the replay; at the snapshot, take it
        as the present and print what changed meanwhile."""
        if topic.startswith("alarm.") and topic != "alarm.snapshot":
            self.connected_at = time.monotonic()    # the replay is coming: wait on
            if body.get("state") == "cleared":
                self.pending.pop(body.get("uuid"), None)
            else:
                self.pending[body.get("uuid")] = body
            return
        if topic != "alarm.snapshot":
            return
        uuids = body.get("uuids", [])
        if any(u not in self.pending for u in uuids):
            # The end of a replay for another subscriber, which began before
            # this one joined: wait for the replay of this subscription
            # (or, when it was lost, for the sync timeout).
            return
        for uuid in list(self.active):
            if uuid not in uuids:
                self.apply(self.active[uuid], missed=True)
        for uuid in uuids:
            self.apply(self.pending[uuid])
        self.last = seq
        self.pending = {}
        self.status({"event": "synced", "seq": seq, "peer": body.get("peer"), "active": sorted(self.active)},
                    "in sync with %s at seq %d: %d active" % (body.get("peer"), seq, len(self.active)))

    def tick(self):
        now = time.monotonic()
        if self.last is None and now - self.connected_at > max(SYNC_TIMEOUT_S, 3 * self.heartbeat_s):
            self.connect()         # no snapshot (node down, or it was lost): ask again
        if not self.silent and now - self.heard_at > 3 * self.heartbeat_s:
            self.silent = True
            self.status({"event": "silent", "endpoint": self.endpoint, "seconds": round(now - self.heard_at)},
                        "no heartbeat from %s for %d s: the alarms actor or the node is down"
                        % (self.endpoint, now - self.heard_at))

    def run(self):
        while True:
            if self.sock.poll(200):
                frames = self.sock.recv_multipart()
                if len(frames) != 2:
                    continue
                try:
                    body = json.loads(frames[1])
                except ValueError:
                    continue
                self.on_message(frames[0].decode(errors="replace"), body)
            self.tick()


def main():
    parser = argparse.ArgumentParser(description="Print every change of a Causeway node's active alarms.")
    parser.add_argument("endpoint", nargs="?", help="alarm socket endpoint (default %s)" % DEFAULT_ENDPOINT)
    parser.add_argument("--endpoint", dest="endpoint_opt", metavar="ENDPOINT", help="alarm socket endpoint")
    parser.add_argument("--config", metavar="FILE", help="bootstrap file: its first alarms.publish endpoint")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()

    endpoint, heartbeat_ms = args.endpoint_opt or args.endpoint, 5000
    if args.config:
        try:
            config_endpoint, heartbeat_ms = read_bootstrap(args.config)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            print("alarm-monitor: %s: %s" % (args.config, e), file=sys.stderr)
            return 2
        endpoint = endpoint or config_endpoint
    endpoint = endpoint or DEFAULT_ENDPOINT

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, stop)     # also when started with SIGINT ignored (a shell's "&")
    signal.signal(signal.SIGTERM, stop)
    ctx = zmq.Context()
    monitor = Monitor(ctx, endpoint, heartbeat_ms, args.json)
    try:
        monitor.run()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        return 1
    finally:
        monitor.close()
        ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
