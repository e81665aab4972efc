"""routerd as a supervisor, checked from outside.

A killed daemon comes back (new pid, ready, restart counted) without
disturbing the others; an admin restart of c2sd keeps the client port open
(routerd holds the listeners); the routing table forgets the sessions of a
c2sd that died; SIGTERM and `rampartctl stop` leave no process behind;
`routerd -n` checks a configuration and `-nv` prints one that parses back;
a reload with a broken file keeps the suite running and a good one applies.

Tests that end or reconfigure a suite start their own instance; the rest
share the module's `instance` (conftest.py).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, DAEMONS, start_instance

ROUTERD = os.path.join(BUILD, "routerd", "routerd")


def status_all(inst):
    st = inst.status()
    return {d: (st[d]["state"], st[d]["pid"], int(st[d]["restarts"]))
            for d in DAEMONS}


def sessions(inst):
    m = re.search(r"^sessions (\d+)$", inst.ctl("status").stdout, re.M)
    assert m, "no sessions line in rampartctl status"
    return int(m.group(1))


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("%s: not within %.1f s" % (what, timeout))


def gone(pid):
    """True when pid has exited (a zombie waiting for init counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def group_members(pgid):
    """Live processes in process group pgid (routerd is its session leader)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(p))
    return out


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def stream_answer(port, domain, timeout=5.0, sock=None):
    """Open an XMPP stream (RFC 6120 section 4.2) on a new connection (or
    `sock`) and return what c2sd says, up to its stream features."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    try:
        s.sendall(("<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
                   "xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams'>" % domain).encode())
        data = b""
        deadline = time.time() + timeout
        while b"features" not in data and time.time() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")
    finally:
        s.close()


@pytest.fixture
def own_instance(tmp_path):
    """A suite of the test's own, for tests that stop or reconfigure it."""
    inst = start_instance(tmp_path)
    yield inst
    inst.stop()


# --- restarts -----------------------------------------------------------------

@pytest.mark.parametrize("daemon", DAEMONS)
def test_kill9_restarts_only_that_daemon(instance, daemon):
    before = status_all(instance)
    assert all(s[0] == "ready" for s in before.values()), before
    old = before[daemon][1]
    os.kill(old, signal.SIGKILL)
    new = instance.wait_ready(daemon, timeout=2.0, not_pid=old)
    assert new not in (0, old)
    wait_until(lambda: gone(old), 1.0, "old %s reaped" % daemon)
    after = status_all(instance)
    assert after[daemon][2] == before[daemon][2] + 1, (before[daemon], after[daemon])
    for d in DAEMONS:
        if d != daemon:
            assert after[d] == before[d], "%s changed when %s died" % (d, daemon)
    assert instance.status()["routerd"]["pid"] == instance.pid
    assert re.search(r"%s \(pid %d\) killed by signal 9" % (daemon, old), instance.log())


def test_admin_restart_keeps_the_port_open(instance):
    old = instance.pid_of("c2sd")
    r = instance.ctl("restart", "c2sd")
    assert "c2sd restarting" in r.stdout
    # Before c2sd is back: the kernel still queues connections on the
    # listener routerd holds, and the new c2sd serves the queued one (the
    # old one read RF_SHUTDOWN, sent before routerd answered us, first).
    s = socket.create_connection(("127.0.0.1", instance.port), timeout=1)
    try:
        assert "stream:features" in stream_answer(instance.port,
                                                  instance.domain, sock=s)
    finally:
        s.close()
    new = instance.wait_ready("c2sd", timeout=2.0, not_pid=old)
    assert new != old
    assert port_open(instance.port) and port_open(instance.tls_port)
    assert "restart of c2sd requested" in instance.log()


def test_daemon_dying_at_start_is_throttled(own_instance):
    """authd with a corrupt account store dies before READY at every start:
    routerd backs off (doubling delays) instead of spinning, touches no other
    daemon, and authd comes back once the store is fixed."""
    inst = own_instance
    before = status_all(inst)
    mdb = os.path.join(inst.dir, "data", "authd", "data.mdb")
    with open(mdb, "r+b") as f:
        f.write(b"x" * os.path.getsize(mdb))
    logged = len(inst.log())
    os.kill(before["authd"][1], signal.SIGKILL)
    time.sleep(4.0)
    tail = inst.log()[logged:]
    delays = [int(ms) for ms in re.findall(
        r"authd died before it was ready; next start in (\d+) ms", tail)]
    assert len(delays) >= 3, tail
    assert all(b == 2 * a for a, b in zip(delays, delays[1:])), delays
    assert len(re.findall(r"started authd ", tail)) <= 6, tail
    after = status_all(inst)
    for d in DAEMONS:
        if d != "authd":
            assert after[d] == before[d], d
    assert after["authd"][0] != "ready"
    os.unlink(mdb)      # authd makes a fresh store at its next start
    inst.wait_ready("authd", timeout=delays[-1] / 1000.0 * 2 + 3.0)
    assert inst.status()["routerd"]["pid"] == inst.pid


def test_restart_unknown_daemon_refused(instance):
    r = instance.ctl("restart", "nosuchd", check=False)
    assert r.returncode != 0 and "no such daemon" in r.stdout


CLIENT = r"""
import asyncio, os, ssl, sys
import slixmpp
jid, pw, host, port, cafile = sys.argv[1:6]
class C(slixmpp.ClientXMPP):
    def __init__(s):
        # PLAIN over TLS: this test is about routerd's table, not SASL.
        super().__init__(jid, pw, sasl_mech="PLAIN")
        s.ssl_context = ssl.create_default_context(cafile=cafile)
        s.add_event_handler("session_start", s.start)
        s.add_event_handler("failed_auth", lambda e: os._exit(3))
        s.add_event_handler("disconnected", lambda e: os._exit(0))
    async def start(s, ev):
        s.send_presence()
        print("bound", s.boundjid.full, flush=True)
c = C()
c.connect((host, int(port)))
asyncio.get_event_loop().run_until_complete(asyncio.sleep(30))
os._exit(4)
"""


def test_routes_forget_sessions_of_dead_c2sd(instance):
    instance.adduser("routes", "routes-secret")
    p = subprocess.Popen(["/usr/bin/python3", "-c", CLIENT,
                          instance.jid("routes") + "/r1", "routes-secret",
                          instance.host, str(instance.port), instance.cafile],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("bound "), "client did not bind: %r %s" % (
            line, p.stderr.read() if p.poll() is not None else "")
        wait_until(lambda: "routes@" in instance.ctl("routes").stdout, 2.0,
                   "session in the routing table")
        routes = instance.ctl("routes").stdout
        assert re.search(r"^routes@%s/r1 c2sd \d+ " % re.escape(instance.domain),
                         routes, re.M), routes
        assert sessions(instance) >= 1
        old = instance.pid_of("c2sd")
        os.kill(old, signal.SIGKILL)
        # The table is cleaned when c2sd's link breaks, not when it is back.
        wait_until(lambda: "routes@" not in instance.ctl("routes").stdout, 2.0,
                   "session removed from the routing table")
        instance.wait_ready("c2sd", timeout=2.0, not_pid=old)
        assert sessions(instance) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


# --- stopping -----------------------------------------------------------------

def check_nothing_left(inst, pids, timeout=5.0):
    wait_until(lambda: all(gone(p) for p in pids), timeout,
               "every process of the suite gone (%s)" % pids)
    assert group_members(inst.pid) == []


def test_sigterm_leaves_nothing_behind(own_instance):
    inst = own_instance
    pids = [inst.pid] + [inst.pid_of(d) for d in DAEMONS]
    os.kill(inst.pid, signal.SIGTERM)
    check_nothing_left(inst, pids)
    assert "stopping on signal 15" in inst.log()
    assert not os.path.exists(inst.control), "control socket left behind"


def test_rampartctl_stop_leaves_nothing_behind(own_instance):
    inst = own_instance
    pids = [inst.pid] + [inst.pid_of(d) for d in DAEMONS]
    r = inst.ctl("stop")
    assert "stopping" in r.stdout
    check_nothing_left(inst, pids)
    assert not os.path.exists(inst.control), "control socket left behind"


def test_stuck_daemon_is_killed_at_stop(own_instance):
    """A child that ignores RF_SHUTDOWN (stopped with SIGSTOP) is killed
    after the grace period; routerd still exits with nothing left."""
    inst = own_instance
    pids = [inst.pid] + [inst.pid_of(d) for d in DAEMONS]
    os.kill(inst.pid_of("imd"), signal.SIGSTOP)
    os.kill(inst.pid, signal.SIGTERM)
    check_nothing_left(inst, pids, timeout=8.0)
    assert "imd did not stop within" in inst.log()


# --- configuration check ------------------------------------------------------

def conf_path(inst):
    return inst.env["CONF"]


def routerd_check(path, verbose=False):
    return subprocess.run([ROUTERD, "-nv" if verbose else "-n", "-f", path],
                          capture_output=True, text=True, timeout=30)


def test_check_valid_config(instance):
    r = routerd_check(conf_path(instance))
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr


def test_check_broken_config_names_file_and_line(instance, tmp_path):
    with open(conf_path(instance)) as f:
        lines = f.read().splitlines()
    bad = tmp_path / "bad.conf"
    lines.insert(3, "listen client on 127.0.0.1 port 99999999")
    bad.write_text("\n".join(lines) + "\n")
    r = routerd_check(str(bad))
    assert r.returncode != 0
    assert re.search(r"^%s:4: " % re.escape(str(bad)), r.stderr, re.M), r.stderr
    assert "configuration OK" not in r.stderr


def test_check_verbose_output_parses_back(instance, tmp_path):
    r = routerd_check(conf_path(instance), verbose=True)
    assert r.returncode == 0, r.stderr
    assert "host \"%s\"" % instance.domain in r.stdout
    printed = tmp_path / "printed.conf"
    printed.write_text(r.stdout)
    again = routerd_check(str(printed), verbose=True)
    assert again.returncode == 0, again.stderr
    # printing is a fixed point: nothing is lost or changed on the way
    assert again.stdout == r.stdout


# --- reload -------------------------------------------------------------------

def test_reload_broken_config_keeps_running(own_instance):
    inst = own_instance
    path = conf_path(inst)
    shutil.copy(path, path + ".good")
    before = status_all(inst)
    with open(path, "a") as f:
        f.write("this is not a keyword\n")
    r = inst.ctl("reload", check=False)
    assert r.returncode != 0
    assert "still running the previous configuration" in r.stdout
    os.kill(inst.pid, signal.SIGHUP)
    wait_until(lambda: inst.log().count("still running the previous") >= 1, 2.0,
               "SIGHUP with a broken file logged")
    time.sleep(0.3)
    assert status_all(inst) == before, "children restarted by a failed reload"
    assert inst.status()["routerd"]["pid"] == inst.pid
    assert port_open(inst.port)


def test_reload_valid_config_applies(own_instance):
    inst = own_instance
    path = conf_path(inst)
    before = status_all(inst)
    with open(path) as f:
        text = f.read()
    assert "log-level info" in text
    with open(path, "w") as f:
        f.write(text.replace("log-level info", "log-level debug"))
    r = inst.ctl("reload", check=False)
    assert r.returncode == 0 and "configuration reloaded" in r.stdout, r.stdout
    assert "configuration reloaded from %s" % path in inst.log()
    for d in DAEMONS:
        new = inst.wait_ready(d, timeout=5.0, not_pid=before[d][1])
        # the new incarnation got the new level: its own debug line
        wait_until(lambda: re.search(r"%s\[%d\]: debug: ready" % (d, new),
                                     inst.log()), 2.0, "%s logs at debug" % d)
    assert inst.status()["routerd"]["pid"] == inst.pid
    # the ports survive the reload, and a later restart of c2sd
    assert port_open(inst.port)
    old = inst.pid_of("c2sd")
    inst.ctl("restart", "c2sd")
    inst.wait_ready("c2sd", timeout=2.0, not_pid=old)
    assert port_open(inst.port) and port_open(inst.tls_port)
    assert "stream:features" in stream_answer(inst.port, inst.domain)


def test_sighup_valid_config_applies(own_instance):
    inst = own_instance
    before = status_all(inst)
    os.kill(inst.pid, signal.SIGHUP)
    wait_until(lambda: "configuration reloaded from" in inst.log(), 2.0,
               "SIGHUP reload logged")
    for d in DAEMONS:
        inst.wait_ready(d, timeout=5.0, not_pid=before[d][1])
    old = inst.pid_of("c2sd")
    inst.ctl("restart", "c2sd")
    inst.wait_ready("c2sd", timeout=2.0, not_pid=old)
    assert port_open(inst.port)
