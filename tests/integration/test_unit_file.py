"""The systemd unit etc/causeway.service: sandboxed enough that
`systemd-analyze security --offline=true` rates its exposure 2.0 or lower,
and consistent with what it runs: the folders it gives the service are the
ones etc/causeway.conf names, the user it runs as is the one
etc/causeway.sysusers creates, and the readiness, watchdog and open-file
settings causewayd relies on are there.

Run:
    /usr/bin/python3 -m pytest -q tests/integration/test_unit_file.py
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
UNIT = os.path.join(ROOT, "etc", "causeway.service")
CONF = os.path.join(ROOT, "etc", "causeway.conf")
SYSUSERS = os.path.join(ROOT, "etc", "causeway.sysusers")
MAX_EXPOSURE = 2.0


def unit_settings():
    """{key: [values]} of the [Service] section (a key may repeat)."""
    settings = {}
    section = None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def conf_value(group, key):
    with open(CONF) as f:
        text = f.read()
    block = re.search(r"^%s:\s*\{(.*?)^\};" % group, text, re.S | re.M)
    assert block, "no %s group in %s" % (group, CONF)
    m = re.search(r"^\s*%s\s*=\s*\"([^\"]*)\"" % key, block.group(1), re.M)
    assert m, "no %s.%s in %s" % (group, key, CONF)
    return m.group(1)


def test_exposure_is_2_or_lower():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=60)
    if "--offline" in r.stderr and ("unrecognized" in r.stderr or "Unknown" in r.stderr):
        pytest.skip("this systemd-analyze has no --offline: %s" % r.stderr.strip())
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, "no exposure level in the output of systemd-analyze:\n%s\n%s" % (r.stdout, r.stderr)
    level = float(m.group(1))
    assert level <= MAX_EXPOSURE, "exposure %.1f > %.1f:\n%s" % (level, MAX_EXPOSURE, r.stdout)


def test_folders_match_the_bootstrap_file():
    s = unit_settings()
    runtime_dir = conf_value("node", "runtime_dir")
    state_dir = conf_value("node", "state_dir")
    assert runtime_dir == "/run/" + s["RuntimeDirectory"][0], (runtime_dir, s["RuntimeDirectory"])
    assert state_dir == "/var/lib/" + s["StateDirectory"][0], (state_dir, s["StateDirectory"])
    # the bootstrap file the unit reads is where CMake installs it
    assert s["ConfigurationDirectory"] == ["causeway"]
    for line in s["ExecStart"] + s["ExecStartPre"]:
        assert line.endswith(" /etc/causeway/causeway.conf"), line
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        cmake = f.read()
    assert "install(FILES etc/causeway.conf DESTINATION /etc/causeway)" in cmake
    assert "etc/causeway.sysusers DESTINATION /usr/lib/sysusers.d" in cmake
    # only its own folders are writable, and they are private
    assert s["ProtectSystem"] == ["strict"] and "ReadWritePaths" not in s
    assert s["RuntimeDirectoryMode"] == ["0700"] and s["StateDirectoryMode"] == ["0700"]
    assert s["UMask"] == ["0077"]


def test_runs_as_the_user_sysusers_creates():
    s = unit_settings()
    assert s["User"] == ["causeway"] and s["Group"] == ["causeway"]
    with open(SYSUSERS) as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    assert ["u", "causeway", "-"] in [line[:3] for line in lines], lines
    # and it has no capability (every default port is above 1024)
    assert s["CapabilityBoundingSet"] == [""] and s["NoNewPrivileges"] == ["yes"]


def test_readiness_watchdog_and_file_limit():
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert int(s["WatchdogSec"][0]) > 0
    assert s["LimitNOFILE"] == ["65536"]
    assert s["KillMode"] == ["mixed"]
    # causewayd's own address families: control/broker ipc, peers and CURVE over IP
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
