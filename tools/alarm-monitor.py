#!/usr/bin/python3
# alarm-monitor.py - print every alarm a Causeway node publishes (Debian: python3-zmq).
# usage: alarm-monitor.py [ENDPOINT]     (default: ipc:///run/causeway/alarms)
import json, sys, zmq
sub = zmq.Context().socket(zmq.SUB)
sub.connect(sys.argv[1] if len(sys.argv) > 1 else "ipc:///run/causeway/alarms")
sub.setsockopt(zmq.SUBSCRIBE, b"alarm.")     # b"" would add the "heartbeat" messages
while True:                                  # on connect: every active alarm, then changes
    topic, body = sub.recv_multipart()
    a = json.loads(body)
    print(topic.decode(), a["uuid"], a["severity"], a["peer"], a["title"], "-", a["detail"], flush=True)
