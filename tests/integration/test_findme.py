"""FindMe through real processes: a 3-peer cluster on 127.0.1.1..3 (SIP on
5060 of each, as test_proxy.py forms it), FindMe accounts put as the tms
actor puts them (replication.data.put into tms.findme, rows shaped as the
test manager's dataset.py), sipp endpoints registered as the devices, sipp
or a small UDP client as the caller:

  - a call to a FindMe alias through peer 3 rings both devices of the
    active location, registered on peer 1 and on peer 2: both see the
    INVITE, one answers (the caller gets 200), the other is CANCELled;
    `causeway locate` shows the "findme" step with both devices;
  - active_location changed (a new put): the next call rings the other
    location's device, and nothing reaches the first location's device;
  - no device of the active location registered: 480 with a Warning;
  - an active location the account does not have: 404 with a Warning;
  - every peer loaded the accounts (routing.status "findme").
"""
import json
import os
import socket
import sys
import time

import pytest

from test_proxy import (DOMAIN, UA_IP, Caller, Sipp, call_ok, ensure_rms, final, finished_ok, header,
                        peer_addr, register, registered_everywhere, routing_status, sip_cluster)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tms_manager"))
import dataset  # noqa: E402 - the test manager's rows

NS = "tms.findme"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    yield from sip_cluster(tmp_path_factory, request, "findme")


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path / "sipp")
    yield s
    s.close()


def account(n, active="Office"):
    """Row N of the test manager's FindMe accounts (its devices are
    user%06d.desk/.room/.home/.mobile@example.com) as the tms actor stores
    it: the manager's row without "deleted"."""
    row = dataset.row("findme", n)
    row["active_location"] = active
    return row


def put(c, *rows):
    call_ok(c[1], "replication.data.put", {"ns": NS, "rows": [[r["id"], json.dumps(r)] for r in rows]})


def locate(c, k, alias):
    r = c[k].cli("--json", "locate", alias)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def findme_step(c, k, alias):
    steps = [s for s in locate(c, k, alias)["steps"] if s["step"] == "findme"]
    return steps[0] if steps else None


def loaded_everywhere(c, alias, location):
    for k in (1, 2, 3):
        c[k].wait_for(lambda k=k: (findme_step(c, k, alias) or {}).get("location") == location, 15,
                      lambda k=k: "peer %d: %s / %s" % (k, routing_status(c[k]).get("findme"),
                                                        locate(c, k, alias)))


def user(n, device):
    return "user%06d.%s" % (n, device)


def test_call_rings_both_devices_on_two_peers_one_answers(cluster, sipp):
    c = cluster
    ensure_rms(c)
    put(c, account(1))
    alias = "user000001.findme@" + DOMAIN
    loaded_everywhere(c, alias, "Office")
    for k in (1, 2, 3):
        fm = routing_status(c[k])["findme"]
        assert fm["loaded"] and fm["accounts"] >= 1, fm
    register(sipp, 1, user(1, "desk"), 5701)
    register(sipp, 2, user(1, "room"), 5702)
    registered_everywhere(c, "sip:%s@%s" % (user(1, "desk"), DOMAIN), 1)
    registered_everywhere(c, "sip:%s@%s" % (user(1, "room"), DOMAIN), 1)
    # Before the call: locate lists both devices, both registered
    step = findme_step(c, 3, alias)
    assert step["account"] == "f000001" and step["location"] == "Office", step
    assert [(d["alias"], d["registered"]) for d in step["devices"]] == [
        ("%s@%s" % (user(1, "desk"), DOMAIN), True), ("%s@%s" % (user(1, "room"), DOMAIN), True)], step
    answers = sipp.start("call_uas", 5701)
    rings = sipp.start("call_uas_cancel", 5702)
    uac = sipp.start("call_uac", 5703, peer_addr(3), user="user000001.findme", pause_ms=500)
    finished_ok(sipp, uac)
    finished_ok(sipp, answers)
    finished_ok(sipp, rings)
    assert "200 OK" in uac.messages
    assert "INVITE sip:%s@" % user(1, "room") in rings.messages, rings.messages[-3000:]
    assert "CANCEL" in rings.messages
    assert "INVITE sip:%s@" % user(1, "desk") in answers.messages, answers.messages[-3000:]


def test_active_location_change_rings_the_other_location(cluster, sipp):
    c = cluster
    ensure_rms(c)
    alias = "user000004.findme@" + DOMAIN
    put(c, account(4))
    register(sipp, 1, user(4, "desk"), 5711)
    register(sipp, 2, user(4, "home"), 5712)
    registered_everywhere(c, "sip:%s@%s" % (user(4, "desk"), DOMAIN), 1)
    registered_everywhere(c, "sip:%s@%s" % (user(4, "home"), DOMAIN), 1)
    loaded_everywhere(c, alias, "Office")
    # The manager moves the account to Home: the next call rings home only
    put(c, account(4, "Home"))
    loaded_everywhere(c, alias, "Home")
    desk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    desk.bind((UA_IP, 5711))
    desk.settimeout(0.2)
    try:
        home = sipp.start("call_uas", 5712)
        uac = sipp.start("call_uac", 5713, peer_addr(3), user="user000004.findme", pause_ms=300)
        finished_ok(sipp, uac)
        finished_ok(sipp, home)
        assert "INVITE sip:%s@" % user(4, "home") in home.messages
        got = []
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                got.append(desk.recv(65536).decode(errors="replace").split("\r\n")[0])
            except socket.timeout:
                pass
        assert got == [], "the Office device was rung: %s" % got
    finally:
        desk.close()


def test_no_device_registered_480_unknown_location_404(cluster):
    c = cluster
    put(c, account(2), account(3, "Nowhere"))
    loaded_everywhere(c, "user000002.findme@" + DOMAIN, "Office")
    loaded_everywhere(c, "user000003.findme@" + DOMAIN, "Nowhere")
    caller = Caller(5721)
    try:
        caller.invite(3, "user000002.findme")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 480, text
        assert "no device of location 'Office' is registered" in header(text, "Warning"), text
        caller.invite(2, "user000003.findme")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 404, text
        assert "has no location 'Nowhere'" in header(text, "Warning"), text
    finally:
        caller.close()
    # The account removed (a null row): the alias is an ordinary one again
    call_ok(c[1], "replication.data.put", {"ns": NS, "rows": [["f000003", None]]})
    for k in (1, 2, 3):
        c[k].wait_for(lambda k=k: findme_step(c, k, "user000003.findme@" + DOMAIN) is None, 15,
                      "peer %d still has the removed account" % k)
    caller = Caller(5722)
    try:
        caller.invite(3, "user000003.findme")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 480 and "FindMe" not in text, text
    finally:
        caller.close()


def test_with_search_rules_findme_comes_after_the_transforms(cluster, sipp):
    c = cluster
    ensure_rms(c)
    # A transform (NAME.fm@ -> NAME.findme@) and a search rule for the
    # domain: the search runs, the FindMe alias is the transformed one
    call_ok(c[1], "transforms.add", {"rule": {
        "name": "fm-short", "priority": 10, "pattern_type": "regex", "pattern": "(.*)\\.fm@example\\.com",
        "replace": "\\1.findme@example.com", "state": "on"}})
    call_ok(c[1], "search_rules.add", {"rule": {
        "name": "own-users", "priority": 10, "source": "any", "mode": "pattern_match", "pattern_type": "regex",
        "pattern": ".*@example\\.com", "behaviour": "leave", "on_match": "stop", "target": "local",
        "state": "on"}})
    try:
        for k in (1, 2, 3):
            c[k].wait_for(lambda k=k: routing_status(c[k]).get("search", {}).get("search_rules") == 1
                          and routing_status(c[k])["search"]["transforms"] == 1, 15,
                          lambda k=k: "peer %d: %s" % (k, routing_status(c[k]).get("search")))
        put(c, account(5))
        loaded_everywhere(c, "user000005.findme@" + DOMAIN, "Office")
        register(sipp, 2, user(5, "desk"), 5731)
        registered_everywhere(c, "sip:%s@%s" % (user(5, "desk"), DOMAIN), 1)
        desk = sipp.start("call_uas", 5731)
        uac = sipp.start("call_uac", 5732, peer_addr(1), user="user000005.fm", pause_ms=300)
        finished_ok(sipp, uac)
        finished_ok(sipp, desk)
        assert "INVITE sip:%s@" % user(5, "desk") in desk.messages
        entries = [e for e in call_ok(c[1], "routing.search_history", {"limit": 20})["searches"]
                   if e["alias"] == "user000005.fm@" + DOMAIN and not e.get("locate")]
        assert entries, call_ok(c[1], "routing.search_history", {"limit": 5})
        entry = entries[0]
        assert entry["transformed"] == "user000005.findme@" + DOMAIN, entry
        kinds = [s["step"] for s in entry["steps"]]
        assert kinds[:2] == ["transform", "findme"] and "rule" not in kinds, entry
        step = entry["steps"][1]
        assert [(d["alias"], d["registered"]) for d in step["devices"]] == [
            ("%s@%s" % (user(5, "desk"), DOMAIN), True), ("%s@%s" % (user(5, "room"), DOMAIN), False)], step
        assert entry["result"] == "FindMe account f000005: 1 registered device(s) of location 'Office'", entry
        # The CLI's locate: the result line
        out = c.ok(3, "locate", "user000005.fm@" + DOMAIN)
        assert out.splitlines()[-1] == "result: FindMe account f000005: 1 registered device(s) of location " \
                                       "'Office'", out
        # ... and its findme step, every device with whether it is registered
        assert ("  findme    f000005              location Office, 1 device(s) registered: %s@%s, %s@%s "
                "(not registered)" % (user(5, "desk"), DOMAIN, user(5, "room"), DOMAIN)) in out.splitlines(), out
    finally:
        call_ok(c[1], "search_rules.remove", {"name": "own-users"})
        call_ok(c[1], "transforms.remove", {"name": "fm-short"})
