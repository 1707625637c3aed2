"""SIP outbound (RFC 5626) with a real endpoint: baresip (Debian's
baresip-core) registers one account through two flows, TCP to peer 1 and
TCP to peer 2 of a 3-peer cluster (127.0.1.1..3), as a phone with two
outbound proxies does.

  - `causeway registrations list --json` (on peer 3, which holds neither
    flow) lists both bindings of the account, one owned by peer 1 and one
    by peer 2, with the same +sip.instance and reg_id 1 and 2;
  - peer 1 killed (kill -9 of its node): after the dead-peer time its
    binding is no longer used (listed with "usable": false, or gone) on
    the peers left, and the registration through peer 2 is still there
    and usable.

baresip's traps (shared/TESTING.md, and one more): SIP outbound needs an
instance id, which the uuid module makes; "module" lines load before
"module_tmp" ones, so both uuid and account are module_tmp, uuid first
(else: "outbound requires valid UUID!"). Audio modules that need no
device; headless, stdin closed.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 - fixture
from test_license import Issuer
from test_registrar import call_ok, require_core, sip_section, wait_listening

BARESIP = shutil.which("baresip")
DOMAIN = "example.com"
UA_IP = "127.0.1.105"
AOR = "sip:alice@%s" % DOMAIN


@pytest.fixture
def issuer(tmp_path):
    return Issuer(tmp_path / "issuer")


def baresip_config(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config"), "w") as f:
        f.write("module_path /usr/lib/baresip/modules\n"
                "sip_listen %s:5080\n"
                "module g711.so\n"
                "module ausine.so\n"
                "module aufile.so\n"
                "module menu.so\n"
                "module_tmp uuid.so\n"
                "module_tmp account.so\n"
                "audio_player aufile,/dev/null\n"
                "audio_source ausine,440\n" % UA_IP)
    with open(os.path.join(folder, "accounts"), "w") as f:
        f.write('<sip:alice@%s;transport=tcp>;outbound="sip:127.0.1.1:5060;transport=tcp";'
                'outbound2="sip:127.0.1.2:5060;transport=tcp";sipnat=outbound;regint=600;answermode=auto\n'
                % DOMAIN)
    return folder


def listed(node):
    """`causeway --json registrations list --aor AOR` on NODE."""
    r = node.cli("--json", "registrations", "list", "--aor", AOR)
    assert r.returncode == 0, "registrations list: %s %s" % (r.stdout, r.stderr)
    rows = json.loads(r.stdout)
    return rows.get("registrations", rows) if isinstance(rows, dict) else rows


def test_outbound_flows_to_two_peers(make_cluster, issuer, tmp_path):  # noqa: F811
    if not BARESIP:
        pytest.skip("baresip (baresip-core) is not installed")
    sections = {k: {"licensing": {"issuers": [issuer.pub]}, "sip": sip_section(k)} for k in (1, 2, 3)}
    c = make_cluster(3, node_sections=sections)
    require_core(c[1])
    c.form_guide_way()
    for k in (1, 2, 3):
        wait_listening(c[k])
    c.set(1, "sip.domains", DOMAIN)
    c.wait_replicated("sip.domains", [DOMAIN])
    call_ok(c[1], "license.add", {"key": issuer.issue("desktop_systems", 10)})

    folder = baresip_config(str(tmp_path / "baresip"))
    log = open(str(tmp_path / "baresip.log"), "wb")
    ua = subprocess.Popen([BARESIP, "-f", folder], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def ua_log():
        with open(str(tmp_path / "baresip.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]
    try:
        # Both flows, listed by the peer that holds neither
        def two_flows():
            rows = listed(c[3])
            return rows if sorted(r["peer"] for r in rows) == [1, 2] else None
        rows = c[3].wait_for(two_flows, 30, lambda: "peer 3 lists %s\nbaresip:\n%s" % (listed(c[3]), ua_log()))
        by_peer = {r["peer"]: r for r in rows}
        for row in rows:
            assert row["aor"] == AOR and row["transport"] == "tcp", row
            assert row["instance"].startswith("<urn:uuid:") or row["instance"].startswith("urn:uuid:"), row
        assert by_peer[1]["instance"] == by_peer[2]["instance"], rows
        assert sorted(r["reg_id"] for r in rows) == [1, 2], rows
        # Each peer lists the same two (the table is cluster-wide)
        assert sorted(r["peer"] for r in listed(c[2])) == [1, 2]

        # Peer 1 dies: after the dead-peer time its binding is not used;
        # the flow through peer 2 stays
        c.kill9(1)

        def failed_over():
            rows = listed(c[2])
            one = [r for r in rows if r["peer"] == 1]
            two = [r for r in rows if r["peer"] == 2]
            return two and two[0].get("usable", True) and all(r.get("usable") is False for r in one)
        c[2].wait_for(failed_over, 15, lambda: "peer 2 lists %s" % listed(c[2]))
        time.sleep(2)
        rows = listed(c[2])
        two = [r for r in rows if r["peer"] == 2]
        assert len(two) == 1 and two[0]["usable"] is not False and two[0]["expires"] > 0, rows
        assert all(r.get("usable") is False for r in rows if r["peer"] == 1), rows
        rows3 = listed(c[3])
        assert [r for r in rows3 if r["peer"] == 2 and r.get("usable", True)], rows3
        assert all(r.get("usable") is False for r in rows3 if r["peer"] == 1), rows3
        assert ua.poll() is None, "baresip exited:\n%s" % ua_log()
    finally:
        if ua.poll() is None:
            ua.send_signal(signal.SIGTERM)
            try:
                ua.wait(10)
            except subprocess.TimeoutExpired:
                ua.kill()
                ua.wait()
        log.close()
