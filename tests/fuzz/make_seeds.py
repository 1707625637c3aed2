#!/usr/bin/python3
"""make_seeds.py - write the seed corpora of the libFuzzer targets into
tests/fuzz/corpus/<target>/ (run from anywhere; the files are committed).

Seeds are small and meaningful: the messages, frames, files and values the
node really sees, and the malformed cases its tests know. Multipart seeds
(envelope, control) are frames joined by '\\n' (see fuzz.h); a control seed
may start with a mode digit (fuzz_control.c). The changeset seeds are real
changesets made by the replog itself:
    CW_FUZZ_SEEDS_OUT=tests/fuzz/corpus/fuzz_changeset build-fuzz/fuzz/fuzz_changeset -runs=0
and so are the option keys, signed by the fixed issuer of fuzz_license_key.c:
    CW_FUZZ_SEEDS_OUT=tests/fuzz/corpus/fuzz_license_key build-fuzz/fuzz/fuzz_license_key -runs=0
"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))


def frames(*parts):
    return b"\n".join(p if isinstance(p, bytes) else p.encode() for p in parts)


def envelope_seeds():
    ready = json.dumps({"commands": [{"name": "alarms.raise", "idempotent": True},
                                     {"name": "alarms.list", "idempotent": True}]})
    return {
        "request": frames("CWE1", "REQUEST", "42", "alarms", "replication", "config.get",
                          '{"key":"system.name"}'),
        "control-request": frames("CWE1", "REQUEST", "7", "@control", "replication", "config.set",
                                  '{"key":"h323.ttl_s","value":"3600"}'),
        "reply-ok": frames("CWE1", "REPLY", "42", "replication", "alarms", "ok", '{"value":"peer1"}'),
        "reply-error": frames("CWE1", "REPLY", "18446744073709551615", "replication", "@control", "error",
                              '{"error":"unknown key"}'),
        "ready": frames("CWE1", "READY", "0", "alarms", "", "", ready),
        "heartbeat": frames("CWE1", "HEARTBEAT", "0", "tms", "", "", ""),
        "event": frames("CWE1", "EVENT", "0", "replication", "*", "cluster.changed", '{"peer":2}'),
        "state": frames("CWE1", "STATE", "0", "licensing", "*", "licenses", '{"calls":10}'),
        "term": frames("CWE1", "TERM", "0", "@supervisor", "routing", "", ""),
        "bad-signature": frames("CWE2", "REQUEST", "1", "a", "b", "c", "{}"),
        "bad-type": frames("CWE1", "request", "1", "a", "b", "c", "{}"),
        "bad-corr": frames("CWE1", "REQUEST", "-1", "a", "b", "c", "{}"),
        "corr-overflow": frames("CWE1", "REQUEST", "99999999999999999999", "a", "b", "c", "{}"),
        "six-frames": frames("CWE1", "REQUEST", "1", "a", "b", "c"),
        "nul-in-frame": frames("CWE1", "REQUEST", "1", b"al\x00arms", "b", "c", "{}"),
    }


def control_seeds():
    deep = "[" * 200 + "]" * 200
    return {
        "status": frames("CW1", "status", "{}"),
        "req-delimiter": frames("", "CW1", "status", "{}"),
        "empty-args": frames("CW1", "actors.list", ""),
        "relay-ok": b"0" + frames("CW1", "config.get", '{"key":"system.name"}'),
        "relay-error": b"1" + frames("CW1", "config.set", '{"key":"h323.ttl_s","value":"3600"}'),
        "actor-exits": b"2" + frames("CW1", "alarms.raise", '{"id":90001,"detail":"x"}'),
        "actor-restarts-idempotent": b"3" + frames("CW1", "alarms.list", "{}"),
        "actor-restarts-not-idempotent": b"3" + frames("CW1", "config.set", '{"key":"sip.mode","value":"off"}'),
        "held-while-starting": b"4" + frames("CW1", "tms.status", "{}"),
        "held-then-routed": b"4" + frames("CW1", "CONFIG.GET", '{"key":"dns.domain"}'),
        "unknown-command": frames("CW1", "no.such.command", "{}"),
        "bad-command-name": frames("CW1", "config get", "{}"),
        "bad-signature": frames("CW2", "status", "{}"),
        "not-an-object": frames("CW1", "status", "[1,2,3]"),
        "bad-json": frames("CW1", "status", '{"a":'),
        "deep-json": frames("CW1", "status", deep),
        "two-frames": frames("CW1", "status"),
        "four-frames": frames("CW1", "status", "{}", "extra"),
        "nul-in-command": frames("CW1", b"sta\x00tus", "{}"),
    }


def frame(ftype, corr, body=None, blob=b"", version=1, json_len=None, length=None, text=None):
    if text is None:
        text = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    jl = len(text) if json_len is None else json_len
    rest = struct.pack(">BBQI", version, ftype, corr, jl) + text + blob
    return struct.pack(">I", len(rest) if length is None else length) + rest


def frame_seeds():
    hello = frame(0, 0, {"peer": 1, "cluster": "cluster1.example.com", "address": "127.0.1.1", "version": 1})
    change = frame(3, 17, {"op": "changeset", "seq": 5, "hash": "ab" * 32}, b"T\x03\x01\x00\x00cluster_config\x00")
    return {
        "hello": hello,
        "call-json": frame(1, 1234, {"op": "actor", "actor": "tms", "command": "tms.status", "args": {}}),
        "changeset-with-blob": change,
        "empty-frame": frame(2, 0),
        "blob-only": frame(4, 2**64 - 1, None, bytes(range(64))),
        "two-frames": hello + frame(1, 2, {"op": "heartbeat", "seq": 9}),
        "json-scalar": frame(1, 3, "text"),
        "bad-version": frame(1, 1, {"a": 1}, version=2),
        "json-len-too-big": frame(1, 1, {"a": 1}, json_len=1000),
        "length-too-short": frame(1, 1, length=3),
        "huge-length": struct.pack(">I", 0xFFFFFFF0) + b"\x01\x01",
        "bad-json": frame(1, 1, text=b'{"a":', blob=b"\x00\x01"),
        "truncated": hello[:-3],
    }


def bootstrap_seeds():
    seeds = {}
    for name in ("causeway.conf", "causeway-dev.conf"):
        with open(os.path.join(ROOT, "etc", name), "rb") as f:
            seeds[name.replace(".", "-")] = f.read()
    seeds.update({
        "empty": b"",
        "minimal": b'node: { name = "peer2"; runtime_dir = "run"; state_dir = "state"; };\n',
        "clustered": b'node: { name = "peer1"; type = "edge"; runtime_dir = "/run/cw"; state_dir = "/var/lib/cw"; };\n'
                     b'control: { endpoint = "ipc://${runtime_dir}/control"; curve_endpoint = "tcp://127.0.0.1:4380";'
                     b' authorized_keys_dir = "${state_dir}/keys"; };\n'
                     b'alarms: { publish = [ "ipc://${runtime_dir}/alarms", "tcp://127.0.0.1:4390" ];'
                     b' heartbeat_ms = 1000; };\n'
                     b'peering: { address = "127.0.1.1"; port = 4371; port2 = 4372; certificate = "tls/peer.crt"; };\n',
        "actors": b'actors = ( { name = "alarms"; restart = "permanent"; },\n'
                  b'  { name = "tms"; restart = "transient"; shutdown_timeout_ms = 100; path = "bin/causeway-tms"; },\n'
                  b'  { name = "routing"; restart = "temporary"; path = ""; } );\n',
        "syntax-error": b'node: { name = "peer1" runtime_dir = "/run"; };\n',
        "bad-values": b'supervisor: { intensity = 0; period_s = "30"; heartbeat_ms = 1L; };\n',
        "unknown-keys": b'node: { colour = "blue"; }; extra = 1; supervisor: { intesity = 5; };\n',
        "bad-actor": b'actors = ( { name = "Alarms!"; }, { name = "alarms"; }, { name = "alarms"; } );\n',
        "bad-endpoint": b'control: { endpoint = "udp://1.2.3.4:5"; };\n',
        "long-ipc": b'control: { endpoint = "ipc://' + b"x" * 120 + b'"; };\n',
        "licensing": b'node: { runtime_dir = "run"; state_dir = "state"; };\n'
                     b'licensing: { issuers = [ "${state_dir}/issuer.pub", "/dev/null", "" ];'
                     b' lost_peer_grace_s = 0; colour = 1; };\n',
        "variables": b'node: { runtime_dir = "${state_dir}/run"; state_dir = "${runtime_dir}/state"; };\n'
                     b'control: { endpoint = "ipc://${runtime_dir}${runtime_dir}${state_dir}/c"; };\n',
    })
    return seeds


def config_value_seeds():
    return {k: v.encode() for k, v in {
        "int": "3600", "int-text": '"  3600 "', "int-out-of-range": "5", "int-huge": "99999999999999999999",
        "bool-on": '"on"', "bool-word": "off", "bool-json": "true", "bool-bad": "maybe",
        "enum": "permissive", "enum-int": "6", "ipv4": "192.0.2.1", "ipv6": '"2001:DB8::0:1"',
        "fqdn": "peer1.example.com.", "label": "peer1", "mapping": "Peer1.Example.com = 192.0.2.10",
        "mapping-short-name": "a.b=192.0.2.10",
        "list-json": '["192.0.2.1", "192.0.2.2"]', "list-text": "192.0.2.1, 192.0.2.2,peer3.example.com",
        "list-duplicate": "192.0.2.1,192.0.2.1", "list-empty": '""', "null": "null", "object": '{"a":1}',
        "control-char": '"a\\u0001b"', "nul": '"a\\u0000b"', "long-string": '"' + "x" * 300 + '"',
        "utf8": '"système é"', "key-near": "h323.ttl", "key-prefix": "dns.",
    }.items()}


def rowscan_seeds():
    """Manager pages and rows, event rows, and the edges of JSON."""
    return {k: v.encode() if isinstance(v, str) else v for k, v in {
        "row": '{"id":"e1","rev":3,"book":"Sales","name":"O\\u0027Brien \\"P\\"","uri":"a@x","number":"+44"}',
        "page": '{"revision":9,"more":true,"rows":[{"id":"u1","rev":3,"aliases":["a@x"]},'
                '{"id":"u2","rev":5,"deleted":true}]}',
        "event": '{"ns":"tms.phonebooks","seq":7,"rows":[["e1","{\\"name\\":\\"A\\"}"],["e2",null]]}',
        "utf8": b'"\\ud83d\\ude00\xc3\xa9"', "bad-utf8": b'"\xed\xa0\x80"', "number": "-1.5e3",
        "big-integer": "9223372036854775808", "big-real": "1e400", "nul-escape": '"a\\u0000b"',
        "duplicate": '{"id":"a","id":"b"}', "deep": "[" * 40 + "]" * 40, "spaces": ' { "a" : [ 1 , 2 ] } ',
    }.items()}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (target, len(seeds)))


if __name__ == "__main__":
    write("fuzz_envelope", envelope_seeds())
    write("fuzz_control", control_seeds())
    write("fuzz_frame", frame_seeds())
    write("fuzz_bootstrap", bootstrap_seeds())
    write("fuzz_config_value", config_value_seeds())
    write("fuzz_rowscan", rowscan_seeds())
