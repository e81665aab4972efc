"""The sandbox of every daemon, checked from outside.

What DESIGN.md promises ("a compromised c2sd can read no credential, no
roster and no archive") is checked on a running suite: each daemon's uid,
gid, capabilities, seccomp mode, no_new_privs and chroot read from
/proc/PID; what each daemon can open, asked of the daemon itself through
the test-only debug trigger (`rampartctl debug DAEMON open PATH`, enabled by
the harness with RAMPART_DEBUG_TRIGGERS=1); that a syscall outside the
allowlist kills the daemon (SIGSYS) and routerd brings it back; and that
routerd's control socket answers root only and survives malformed frames.

The suite runs as root (numeric uids 61000.. per daemon, see
tests/harness/instance); without root there is no chroot and no uid change
to check, so these tests require it.
"""
import os
import re
import socket
import stat
import struct
import subprocess
import time

import pytest

from conftest import DAEMONS

DATA_DAEMONS = ["authd", "imd", "pepd", "mucd"]
RF_HELLO = 1
RF_DEBUG = 9
RF_CTL_STATUS = 96
RF_CTL_REPLY = 100

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the sandbox is only complete as root")


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def frame(ftype, *strs, length=None, reserved=0):
    """One frame as rampartctl builds it: 32-byte header, strings in the body
    (u32 length, bytes, NUL).  `length`/`reserved` override the header to
    build malformed frames."""
    body = b"".join(struct.pack("<I", len(s)) + s + b"\0"
                    for s in (x.encode() for x in strs))
    n = 32 + len(body) if length is None else length
    hdr = struct.pack("<IHHQIHBBHHI", n, ftype, 0, 0, 0, 0, 0, 0, 0, 0, reserved)
    return hdr + body


def read_frame(sock, timeout=5.0):
    """(type, body) of the next frame, or None at end of file."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 32:
        chunk = sock.recv(32 - len(buf))
        if not chunk:
            return None
        buf += chunk
    n, ftype = struct.unpack_from("<IH", buf)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return ftype, buf[32:]


def control(inst):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(inst.control)
    return s


# Daemons seen killed by seccomp for trying open(2): their allowlist has no
# open at all, so every later path is refused the same way; they are not
# made to die again (each death lengthens routerd's restart backoff).
NO_OPEN = set()


def debug_open(inst, daemon, path):
    """What happened when `daemon` tried open(path): "opened", the errno text,
    or "killed by seccomp" when open(2) is outside its allowlist (routerd
    answers for a daemon that died trying).  The killed daemon is waited for
    so the next check finds it running."""
    if (inst.dir, daemon) in NO_OPEN:
        return "killed by seccomp"
    old = inst.pid_of(daemon)
    r = inst.ctl("debug", daemon, "open", path, check=False)
    text = r.stdout.strip()
    if "killed by signal 31" in text:
        NO_OPEN.add((inst.dir, daemon))
        inst.wait_ready(daemon, timeout=15.0, not_pid=old)
        return "killed by seccomp"
    assert text.startswith("open %s: " % path), \
        "no answer to the debug trigger: %r %r" % (r.stdout, r.stderr)
    return text[len("open %s: " % path):]


def wait_log(inst, pattern, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, inst.log())
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError("no log line matching %r within %.1f s; log ends:\n%s"
                         % (pattern, timeout, inst.log()[-2000:]))


# --- identity, capabilities, seccomp, chroot ---------------------------------

def test_each_daemon_has_its_own_uid_and_gid(instance):
    st = instance.status()
    uids, gids = {}, {}
    for d in DAEMONS:
        assert st[d]["state"] == "ready", st
        s = proc_status(st[d]["pid"])
        u, g = s["Uid"].split(), s["Gid"].split()
        # real, effective, saved and filesystem ids all dropped
        assert len(u) == 4 and len(set(u)) == 1, (d, s["Uid"])
        assert len(g) == 4 and len(set(g)) == 1, (d, s["Gid"])
        assert u[0] != "0" and g[0] != "0", (d, s["Uid"], s["Gid"])
        # no supplementary group left over from root
        assert s["Groups"].split() in ([], [g[0]]), (d, s["Groups"])
        uids[d], gids[d] = u[0], g[0]
    assert len(set(uids.values())) == len(DAEMONS), uids
    assert len(set(gids.values())) == len(DAEMONS), gids


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_is_sandboxed(instance, daemon):
    pid = instance.pid_of(daemon)
    s = proc_status(pid)
    assert s["Seccomp"] == "2", "%s: seccomp %s, want filter mode" % (daemon, s["Seccomp"])
    assert s["NoNewPrivs"] == "1", daemon
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(s[cap], 16) == 0, "%s: %s %s" % (daemon, cap, s[cap])


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_chroot(instance, daemon):
    pid = instance.pid_of(daemon)
    want = os.path.join(instance.dir, "data",
                        daemon if daemon in DATA_DAEMONS else "empty")
    assert os.readlink("/proc/%d/root" % pid) == want
    assert os.readlink("/proc/%d/cwd" % pid) == want


def test_data_dirs_private_to_their_daemon(instance):
    for d in DATA_DAEMONS:
        p = os.path.join(instance.dir, "data", d)
        st = os.stat(p)
        assert stat.S_IMODE(st.st_mode) == 0o700, (p, oct(st.st_mode))
        assert str(st.st_uid) == proc_status(instance.pid_of(d))["Uid"].split()[0], p
    empty = os.path.join(instance.dir, "data", "empty")
    assert os.listdir(empty) == []
    st = os.stat(empty)
    assert st.st_uid == 0 and not st.st_mode & 0o022, oct(st.st_mode)


# --- what a daemon can open ---------------------------------------------------

def test_debug_trigger_opens_inside_the_chroot(instance):
    """The positive control: the trigger answers, and imd's "/" (the one data
    daemon whose allowlist has open(2), for its compliance log) is its own
    data directory, which it may read.  The others may not open at all."""
    assert debug_open(instance, "imd", "/") == "opened"
    for d in ("authd", "pepd", "mucd"):
        assert debug_open(instance, d, "/") in ("opened", "killed by seccomp"), d


def test_network_daemons_have_no_filesystem(instance):
    """c2sd and s2sd: Landlock with no rule, so not even their empty root."""
    if "Landlock not available" in instance.log():
        pytest.skip("this kernel has no Landlock")
    for d in ("c2sd", "s2sd"):
        assert debug_open(instance, d, "/") != "opened", d


def test_c2sd_cannot_read_credentials(instance):
    mdb = os.path.join(instance.dir, "data", "authd", "data.mdb")
    assert os.path.exists(mdb), "authd keeps no database at %s" % mdb
    for path in (mdb, "/etc/passwd", "/etc/shadow", "/proc/self/status",
                 "../authd/data.mdb", "/../authd/data.mdb"):
        res = debug_open(instance, "c2sd", path)
        assert res != "opened", "c2sd could open %s" % path


def test_s2sd_cannot_read_credentials(instance):
    mdb = os.path.join(instance.dir, "data", "authd", "data.mdb")
    assert debug_open(instance, "s2sd", mdb) != "opened"
    assert debug_open(instance, "s2sd", "/etc/passwd") != "opened"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_no_daemon_reaches_another_data_dir(instance, daemon):
    for other in DATA_DAEMONS:
        if other == daemon:
            continue
        for path in (os.path.join(instance.dir, "data", other),
                     "../" + other, "/../../" + other):
            res = debug_open(instance, daemon, path)
            assert res != "opened", "%s could open %s" % (daemon, path)


# --- seccomp kills, routerd restarts ----------------------------------------

def test_forbidden_syscall_kills_and_restarts(instance):
    before = instance.status()["imd"]
    old = before["pid"]
    # imd dies before it can answer, so the request gets no reply: send it
    # on a raw connection instead of waiting for rampartctl's timeout.
    s = control(instance)
    try:
        s.sendall(frame(RF_DEBUG, "imd", "syscall"))
        wait_log(instance, r"imd \(pid %d\) killed by signal 31 " % old, 2.0)
    finally:
        s.close()
    new = instance.wait_ready("imd", timeout=2.0, not_pid=old)
    assert new != old
    assert not os.path.exists("/proc/%d" % old), "old imd not reaped"
    assert int(instance.status()["imd"]["restarts"]) == int(before["restarts"]) + 1
    # the new incarnation is sandboxed too
    assert proc_status(new)["Seccomp"] == "2"


def test_child_frame_of_4gib_kills_only_that_child(instance):
    """A compromised pepd writes a frame header claiming 4 GiB onto its
    link: routerd closes that link, kills pepd and restarts it; routerd
    and every other daemon keep running."""
    st = instance.status()
    old = st["pepd"]["pid"]
    others = {d: st[d]["pid"] for d in st if d != "pepd" and st[d]["pid"]}
    routerd = instance.pid
    s = control(instance)
    try:
        s.sendall(frame(RF_DEBUG, "pepd", "hugeframe"))
        wait_log(instance, r"pepd link closed \(length above max-frame-size\); "
                 r"killing it", 3.0)
    finally:
        s.close()
    new = instance.wait_ready("pepd", timeout=5.0, not_pid=old)
    assert new != old
    os.kill(routerd, 0)
    after = instance.status()
    assert {d: after[d]["pid"] for d in others} == others
    assert proc_status(new)["Seccomp"] == "2"


# --- the control socket -----------------------------------------------------

def test_control_socket_file_is_private(instance):
    st = os.lstat(instance.control)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_uid == 0
    # group and others may not connect (connect(2) needs write permission)
    assert stat.S_IMODE(st.st_mode) & 0o077 == 0, oct(st.st_mode)


CLIENT = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit(0)
s.settimeout(5)
try:
    s.sendall(struct.pack("<IHHQIHBBHHI", 32, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    data = s.recv(4096)
except (ConnectionResetError, BrokenPipeError):
    data = b""
except socket.timeout:
    print("TIMEOUT"); sys.exit(0)
print("CLOSED" if data == b"" else "ANSWERED")
"""


def run_as_nobody(sockpath, *caps):
    argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    for c in caps:
        argv += ["--inh-caps", "+" + c, "--ambient-caps", "+" + c]
    r = subprocess.run(argv + ["/usr/bin/python3", "-c", CLIENT, sockpath],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_control_socket_refuses_other_users_by_file_mode(instance):
    assert run_as_nobody(instance.control) == "EACCES"


def test_control_socket_refuses_other_users_by_peer_uid(instance):
    """Past the file mode (CAP_DAC_OVERRIDE kept), SO_PEERCRED still refuses:
    the connection is closed without an answer, and routerd says so."""
    assert run_as_nobody(instance.control, "dac_override") == "CLOSED"
    wait_log(instance, r"refused a connection from uid 65534", 2.0)
    # root is still served
    assert instance.status()["routerd"]["state"] == "running"


@pytest.mark.parametrize("bad", [
    frame(RF_CTL_STATUS, length=0xffffffff),
    frame(RF_CTL_STATUS, length=0x10000000),
    frame(RF_CTL_STATUS, length=31),
    frame(RF_CTL_STATUS, reserved=1),
    frame(RF_HELLO, "x")[:-1],                       # NUL missing: short body
], ids=["len-4GiB", "len-256MiB", "len-below-header", "reserved", "truncated"])
def test_malformed_control_frame_closes_only_that_client(instance, bad):
    before = instance.status()
    s = control(instance)
    try:
        s.sendall(bad)
        if len(bad) >= 32 and struct.unpack_from("<I", bad)[0] > len(bad):
            s.shutdown(socket.SHUT_WR)
        # Closed without an answer: at once, or (for a frame that never
        # completes) at our end of file.
        assert read_frame(s, timeout=5.0) is None
    finally:
        s.close()
    after = instance.status()
    assert after["routerd"]["pid"] == before["routerd"]["pid"]
    for d in DAEMONS:
        assert after[d]["pid"] == before[d]["pid"], d
        assert after[d]["state"] == "ready", d

