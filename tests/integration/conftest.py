"""Shared fixtures: a throwaway Rampart instance per test module.

Every instance comes from tests/harness/instance (fresh data directory,
self-signed certificate, its own ports on 127.0.0.1) and is stopped at the
end with a check that no process of it is left behind.
"""
import os
import random
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "tests", "harness", "instance")
BUILD = os.environ.get("RAMPART_BUILD", os.path.join(ROOT, "build"))
DAEMONS = ["authd", "imd", "pepd", "mucd", "s2sd", "c2sd"]


def free_port_base(n=6):
    """A base port with n free consecutive ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - n)
        ok = True
        for p in range(base, base + n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free ports")


class Instance:
    def __init__(self, d, env):
        self.dir = d
        self.env = env
        self.host = env["HOST"]
        self.port = int(env["PORT"])
        self.tls_port = int(env["TLS_PORT"])
        self.domain = env["DOMAIN"]
        self.cafile = env["CAFILE"]
        self.pid = int(env["PID"])
        self.control = env["CONTROL"]

    def ctl(self, *argv, stdin=None, check=True):
        env = dict(os.environ, RAMPART_CONTROL=self.control)
        r = subprocess.run([os.path.join(BUILD, "rampartctl", "rampartctl")] + list(argv),
                           input=stdin, env=env, capture_output=True, text=True,
                           timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("rampartctl %s: %s%s" % (argv, r.stdout, r.stderr))
        return r

    def adduser(self, user, password):
        return self.ctl("adduser", "%s@%s" % (user, self.domain), stdin=password + "\n")

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    def status(self):
        """{daemon: {"state":..., "pid":..., "restarts":...}} from rampartctl status."""
        out = {}
        for line in self.ctl("status").stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 6 and f[0] in DAEMONS + ["routerd"]:
                out[f[0]] = {"state": f[1], "pid": int(f[2]) if f[2].isdigit() else 0,
                             "restarts": f[4]}
        return out

    def pid_of(self, daemon):
        return self.status()[daemon]["pid"]

    def wait_ready(self, daemon, timeout=5.0, not_pid=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status().get(daemon, {})
            if st.get("state") == "ready" and st.get("pid") != not_pid:
                return st["pid"]
            time.sleep(0.05)
        raise AssertionError("%s not ready within %.1f s" % (daemon, timeout))

    def set_host_option(self, line):
        """Add `line` (e.g. "compliance-log yes") to the host block of the
        instance's configuration and reload: every daemon is restarted
        (docs/decisions.md) and waited for."""
        conf = os.path.join(self.dir, "rampart.conf")
        with open(conf) as f:
            text = f.read()
        marker = 'host "%s" {\n' % self.domain
        assert marker in text
        with open(conf, "w") as f:
            f.write(text.replace(marker, marker + "\t%s\n" % line))
        old = {d: self.pid_of(d) for d in ("imd", "mucd")}
        self.ctl("reload")
        for d, pid in old.items():
            self.wait_ready(d, timeout=10, not_pid=pid)
        for d in ("authd", "c2sd"):
            self.wait_ready(d, timeout=10)

    def log(self):
        with open(os.path.join(self.dir, "routerd.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        r = subprocess.run([HARNESS, "stop", "--dir", self.dir],
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0


def start_instance(tmpdir, domain="localhost", extra_conf=None, registration=False):
    d = os.path.join(str(tmpdir), "inst")
    argv = [HARNESS, "start", "--dir", d, "--domain", domain,
            "--port-base", str(free_port_base()), "--build", BUILD]
    if registration:
        argv.append("--registration")
    if extra_conf:
        p = os.path.join(str(tmpdir), "extra.conf")
        with open(p, "w") as f:
            f.write(extra_conf)
        argv += ["--conf-extra", p]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    if r.returncode != 0:
        log = ""
        try:
            with open(os.path.join(d, "routerd.log")) as f:
                log = f.read()[-4000:]
        except OSError:
            pass
        raise RuntimeError("instance did not start: %s\n%s" % (r.stderr, log))
    env = dict(line.split("=", 1) for line in r.stdout.split())
    return Instance(d, env)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("rampart"))
    yield inst
    assert inst.stop(), "processes were left behind at stop"
