"""Damaged or misplaced state is never silent: what an operator sees when a
database of <state_dir> is emptied, damaged or unwritable.

Each test stops a real node, damages a file the way a disk, a person or a
restore gone wrong would, starts the node again and checks what the
operator checks: `causeway status` (the PROBLEM line under the actor
table), `causeway alarms list` (alarm 10002, subject the file name), the
files left in state_dir, and that settings come back through the fix the
message names (`causeway backup restore FILE`). On a subordinate of a
cluster, a damaged cluster.db is moved aside and refilled from the primary
by itself.
"""
import glob
import json
import os
import subprocess

import pytest

from cwcluster import make_cluster  # noqa: F401 - pytest fixture
from cwtest import Node

DAMAGED_DB = 10002
PASSPHRASE = "damaged state test passphrase"


def garble_page(path, which="middle"):
    """Overwrite one page of PATH (4096 bytes) with garbage: the middle one,
    or the first 100 bytes (the header) for which="header"."""
    size = os.path.getsize(path)
    assert size >= 3 * 4096 or which == "header", "%s: only %d bytes" % (path, size)
    with open(path, "r+b") as f:
        if which == "header":
            f.write(b"not a database; overwritten by test_damaged_state " * 2)
        else:
            f.seek((size // 4096 // 2) * 4096)
            f.write(bytes((i * 7919) & 0xFF for i in range(4096)))


def aside(node, file):
    return glob.glob(os.path.join(node.state_dir, file + ".damaged-*"))


def active_alarms(node, alarm_id):
    status, body = node.call("alarms.list", {})
    assert status == "ok", body
    return [a for a in body["alarms"] if a["id"] == alarm_id and a["state"] != "cleared"]


def status_text(node):
    r = node.cli("status")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def problem_of(node, actor):
    return node.actors().get(actor, {}).get("problem", "")


@pytest.fixture
def started(tmp_path):
    nodes = []

    def make(**kw):
        n = Node(tmp_path, **kw).start()
        nodes.append(n)
        return n
    yield make
    for n in nodes:
        n.cleanup()


def test_empty_config_db_is_reported_and_restored_from_backup(started, tmp_path):
    node = started()
    assert node.cli("config", "set", "system.name", "edge-tokyo").returncode == 0
    env = {"CAUSEWAY_BACKUP_PASSPHRASE": PASSPHRASE}
    backup = str(tmp_path / "before.cwb")
    r = node.cli("backup", "create", backup, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    node.stop()

    config_db = os.path.join(node.state_dir, "config.db")
    os.truncate(config_db, 0)
    for extra in ("-wal", "-shm"):
        if os.path.exists(config_db + extra):
            os.unlink(config_db + extra)
    node.start()

    # Not silently defaults: the alarm, the status and the file kept aside
    alarm = Node.wait_for(lambda: active_alarms(node, DAMAGED_DB), 15,
                          lambda: "no alarm 10002; log:\n" + node.read_log())[0]
    assert alarm["subject"] == "config.db"
    assert alarm["severity"] == "critical"
    assert config_db + " is empty (zero bytes), but this node had one" in alarm["detail"]
    assert "causeway backup restore FILE" in alarm["detail"]
    out = status_text(node)
    assert "PROBLEM replication: " + config_db in out, out
    assert "causeway backup restore FILE" in out
    assert len(aside(node, "config.db")) == 1
    assert "damaged database" in node.read_log()

    # The fix the message names brings the settings back and ends the alarm
    r = node.cli("backup", "restore", backup, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr, node.read_log())
    assert node.cli("config", "get", "system.name").stdout.strip() == "edge-tokyo"
    Node.wait_for(lambda: not active_alarms(node, DAMAGED_DB), 15, "alarm 10002 not cleared after the restore")
    Node.wait_for(lambda: "PROBLEM" not in status_text(node), 10, "the problem is still shown after the restore")


def test_alarms_db_with_a_damaged_page_is_shown_in_status(started):
    node = started()
    for i in range(60):
        status, body = node.call("alarms.raise", {"id": 90100 + i, "detail": "d" * 1000})
        assert status == "ok", body
    node.stop()
    alarms_db = os.path.join(node.state_dir, "alarms.db")
    assert not os.path.exists(alarms_db + "-wal") or os.path.getsize(alarms_db + "-wal") == 0
    garble_page(alarms_db)
    node.start()

    out = status_text(node)
    assert "PROBLEM alarms: " + alarms_db + " was damaged" in out, out
    assert "integrity check failed" in out
    assert alarms_db in problem_of(node, "alarms")
    # the new table works, and says what happened to the old one
    alarm = active_alarms(node, DAMAGED_DB)
    assert alarm and alarm[0]["subject"] == "alarms.db", alarm
    moved = aside(node, "alarms.db")
    assert len(moved) == 1 and moved[0] in alarm[0]["detail"]
    assert not [a for a in node.call("alarms.list", {})[1]["alarms"] if a["id"] >= 90100]


def test_corrupt_cluster_db_on_a_single_node_names_the_file_and_the_fix(started):
    node = started()
    assert node.cli("config", "set", "h323.ttl_s", "3600").returncode == 0
    node.stop()
    cluster_db = os.path.join(node.state_dir, "cluster.db")
    garble_page(cluster_db, "header")
    node.start()

    alarm = Node.wait_for(lambda: active_alarms(node, DAMAGED_DB), 15,
                          lambda: "no alarm 10002; log:\n" + node.read_log())[0]
    assert alarm["subject"] == "cluster.db"
    assert cluster_db in alarm["detail"] and "not a database" in alarm["detail"]
    assert "causeway backup restore FILE" in alarm["detail"]
    out = status_text(node)
    assert "PROBLEM replication: " in out and cluster_db in out, out
    assert len(aside(node, "cluster.db")) == 1


def _immutable(path, on):
    return subprocess.run(["chattr", "+i" if on else "-i", path], capture_output=True, text=True)


def test_read_only_state_dir_says_so(tmp_path):
    node = Node(tmp_path).start()
    node.stop()
    # Tests run as root: mode 0555 would not stop root, an immutable folder does
    r = _immutable(node.state_dir, True)
    if r.returncode != 0:
        pytest.skip("chattr +i is not supported here: %s" % r.stderr.strip())
    try:
        node.start(wait=False)
        message = "state_dir %s is not writable: Operation not permitted" % node.state_dir

        def shown():
            try:
                actors = node.actors(timeout_ms=1000)
            except Exception:
                return False
            return message in actors.get("alarms", {}).get("problem", "")
        Node.wait_for(shown, 20, lambda: "no problem shown; log:\n" + node.read_log())
        out = status_text(node)
        assert "PROBLEM alarms: no alarm table: " + message in out, out
        # an alarm request gets the reason, not "unable to open database file"
        r = node.cli("alarms", "list")
        assert r.returncode != 0 and message in r.stderr, (r.stdout, r.stderr)
        Node.wait_for(lambda: message in node.read_log() and "replication" in node.read_log(), 10,
                      "the log does not say it")
        assert "unable to open database file" not in node.read_log()
    finally:
        node.cleanup()
        _immutable(node.state_dir, False)


def test_corrupt_cluster_db_on_a_subordinate_is_refilled_from_the_primary(make_cluster):  # noqa: F811
    c = make_cluster(2)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", "3600")
    c.wait_replicated("h323.ttl_s", 3600)
    sub = c[2]
    sub.stop()
    cluster_db = os.path.join(sub.state_dir, "cluster.db")
    garble_page(cluster_db, "header")
    c.start(2)

    # refilled from the primary's snapshot, by itself
    c.wait_replicated("h323.ttl_s", 3600, nodes=[2], timeout=60)
    c.wait_formed()
    assert len(aside(sub, "cluster.db")) == 1
    assert "this subordinate takes the primary's copy" in sub.read_log()
    assert cluster_db in sub.read_log()
    assert not c.alarms(2, DAMAGED_DB)
    assert "PROBLEM" not in sub.cli("status").stdout
