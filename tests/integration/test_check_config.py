"""`causewayd --check-config FILE` (and every start, which loads the file
the same way) against bootstrap files that are well formed but would break
the node: each is refused with exit 1 and one line naming the file, the
line, the key and what is allowed; a good file and the shipped examples
pass. Nothing here binds a socket."""
import os
import shutil
import subprocess
import tempfile

import pytest

from cwtest import BIN

SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))

BASE = """# a node for --check-config
node: {
  name = "peer1";
  type = "core";
  runtime_dir = "%(run)s";
  state_dir = "%(state)s";
  log_level = "info";
};
control: {
  endpoint = "ipc://${runtime_dir}/control";
  curve_endpoint = "";
  authorized_keys_dir = "";
};
alarms: {
  publish = [ "ipc://${runtime_dir}/alarms" ];
  heartbeat_ms = 5000;
};
supervisor: {
  intensity = 5;
  period_s = 30;
};
peering: {
  address = "127.0.1.1";
  port = 4371;
  port2 = 4372;
  certificate = "${state_dir}/peer.crt";
  private_key = "${state_dir}/peer.key";
  ca_file = "${state_dir}/ca.pem";
};
"""

# (id, the line as in BASE, the line that replaces it, the key named)
BAD = [
    ("control-is-the-alarm-socket", 'endpoint = "ipc://${runtime_dir}/control";',
     'endpoint = "ipc://${runtime_dir}/alarms";', "control.endpoint"),
    ("control-is-the-broker", 'endpoint = "ipc://${runtime_dir}/control";',
     'endpoint = "ipc://${runtime_dir}/broker";', "control.endpoint"),
    ("alarms-on-the-peering-port", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "ipc://${runtime_dir}/alarms", "tcp://*:4371" ];', "alarms.publish"),
    ("state-dir-is-root", 'state_dir = "%(state)s";', 'state_dir = "/";', "node.state_dir"),
    ("state-dir-is-proc-self", 'state_dir = "%(state)s";', 'state_dir = "/proc/self";', "node.state_dir"),
    ("state-dir-in-sys", 'state_dir = "%(state)s";', 'state_dir = "/sys/causeway";', "node.state_dir"),
    ("state-dir-in-dev", 'state_dir = "%(state)s";', 'state_dir = "/dev/causeway";', "node.state_dir"),
    ("state-dir-is-a-file", 'state_dir = "%(state)s";', 'state_dir = "%(file)s";', "node.state_dir"),
    ("runtime-dir-in-proc", 'runtime_dir = "%(run)s";', 'runtime_dir = "/proc/causeway";', "node.runtime_dir"),
    ("runtime-dir-below-a-file", 'runtime_dir = "%(run)s";', 'runtime_dir = "%(file)s/run";',
     "node.runtime_dir"),
    ("undefined-variable", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "ipc://${run_dir}/alarms" ];', "alarms.publish"),
    ("peering-address-not-an-ip", 'address = "127.0.1.1";', 'address = "not an ip";', "peering.address"),
    ("alarm-endpoint-bad-ip-and-port", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "tcp://256.1.1.1:99999" ];', "alarms.publish"),
    ("alarm-endpoint-port-out-of-range", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "tcp://127.0.0.1:99999" ];', "alarms.publish"),
    ("alarm-endpoint-inproc", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "inproc://alarms" ];', "alarms.publish"),
    ("alarm-endpoint-too-long", 'publish = [ "ipc://${runtime_dir}/alarms" ];',
     'publish = [ "ipc:///tmp/%s" ];' % ("x" * 110), "alarms.publish"),
    ("control-endpoint-deletes-a-file", 'endpoint = "ipc://${runtime_dir}/control";',
     'endpoint = "ipc://%(file)s";', "control.endpoint"),
    ("peering-port-out-of-range", "port = 4371;", "port = 70000;", "peering.port"),
    ("certificate-is-a-folder", 'certificate = "${state_dir}/peer.crt";', 'certificate = "%(folder)s";',
     "peering.certificate"),
    ("log-level", 'log_level = "info";', 'log_level = "verbose";', "node.log_level"),
]


@pytest.fixture
def paths(tmp_path):
    run = tempfile.mkdtemp(prefix="cw", dir="/tmp")
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    yield {"run": run, "state": str(tmp_path / "state"), "file": str(afile), "folder": str(folder),
           "dir": tmp_path}
    shutil.rmtree(run, ignore_errors=True)


def check_config(path, option="--check-config"):
    return subprocess.run([os.path.join(BIN, "causewayd"), option, str(path)],
                          capture_output=True, text=True, timeout=10)


def write(paths, name, text):
    path = paths["dir"] / name
    path.write_text(text % paths)
    return path


def test_good_file_passes(paths):
    path = write(paths, "good.conf", BASE)
    r = check_config(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("%s: ok" % path), r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("example", ["causeway.conf", "causeway-dev.conf"])
def test_shipped_examples_pass(example, tmp_path):
    path = os.path.join(SOURCE, "etc", example)
    if example == "causeway-dev.conf":
        # As tools/run.sh runs it: a copy in etc/ beside var/, whose web
        # admin certificate tools/dev-cert.sh makes at first run
        (tmp_path / "etc").mkdir()
        path = str(tmp_path / "etc" / example)
        shutil.copy(os.path.join(SOURCE, "etc", example), path)
        made = subprocess.run([os.path.join(SOURCE, "tools", "dev-cert.sh"), str(tmp_path / "var" / "state")],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
    r = check_config(path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_dev_example_names_the_missing_web_certificate(tmp_path):
    """Without tools/run.sh's first run, the dev file says which key to fix."""
    (tmp_path / "etc").mkdir()
    path = str(tmp_path / "etc" / "causeway-dev.conf")
    shutil.copy(os.path.join(SOURCE, "etc", "causeway-dev.conf"), path)
    r = check_config(path)
    assert r.returncode == 1
    assert "key 'webadmin.certificate': must be a readable PEM file" in r.stderr, r.stderr


@pytest.mark.parametrize("name,old,new,key", BAD, ids=[b[0] for b in BAD])
def test_bad_file_refused_naming_file_line_and_key(paths, name, old, new, key):
    lines = BASE.split("\n")
    index = [i for i, line in enumerate(lines) if line.strip() == old]
    assert len(index) == 1, old
    lines[index[0]] = lines[index[0]].replace(old, new)
    path = write(paths, name + ".conf", "\n".join(lines))
    r = check_config(path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    message = r.stderr.strip()
    assert "\n" not in message, message
    prefix = "%s:%d: key '%s': must " % (path, index[0] + 1, key)
    assert message.startswith(prefix), "%r does not start with %r" % (message, prefix)
    assert "(got " in message, message


def test_start_refuses_what_check_config_refuses(paths):
    """causewayd --config reads the file the same way: it exits 1 with the
    same message before it creates a folder or binds a socket."""
    text = BASE.replace('endpoint = "ipc://${runtime_dir}/control";', 'endpoint = "ipc://${runtime_dir}/alarms";')
    path = write(paths, "start.conf", text)
    check = check_config(path)
    start = check_config(path, "--config")
    assert start.returncode == 1, start.stderr
    assert check.stderr.strip() in start.stderr, (check.stderr, start.stderr)
    assert "key 'control.endpoint'" in start.stderr
    assert not os.path.exists(paths["state"])
