#!/usr/bin/python3
"""Differential test: `etcdctl lock` and `etcdctl elect` against real etcd vs CAPSTAN_BIN.

lock and elect are client-side recipes (clientv3/concurrency) combining a
session lease kept alive in the background, a txn creating
<name>/<lease id hex> with the session lease, a range for the key with the
smallest create revision and a watch for the deletion of the predecessor.
Each scenario runs the same script against a fresh etcd 3.4 and a fresh
candidate (concurrently, one thread per server) and records a transcript:
outputs of every etcdctl process (stdout lines in order, exit codes, stderr),
`get --prefix -w json` snapshots (kvs ordered by create revision) and
timing/ordering checks.  Lease ids appear in key names; they are registered
with the server's normalizer (-> <LEASE_n>) in the order the script meets them
(never from an output ordered by key, i.e. by random id).  Transcripts are
compared step by step; the checks ("check: ...") are absolute: both servers
must pass them, a failing one shows its measurements.

Scenarios:
  * test_lock_two_contenders: A holds mylock while running a command (sleep 2);
    B, started while A holds it, blocks and gets the lock right after A's
    command ended (ETCD_LOCK_KEY / ETCD_LOCK_REV as etcd sets them),
  * test_lock_released_on_sigint: a holder without command prints its key and
    holds until SIGINT, then unlocks; the waiter gets the lock at once,
  * test_lock_ttl_holder_killed: holder with --ttl=3 killed with SIGKILL: the
    lock stays taken until the session lease expires (between TTL-1 s and TTL
    + slack after the kill, never sooner), then the waiter gets it,
  * test_elect_campaign_observe: an observer (`elect -l`), leader p1, p2 and
    p3 campaigning; p1 dies with SIGTERM (etcdctl resigns: p2 leads at once);
    p2 dies with SIGKILL: p3 leads once p2's session lease (etcdctl's default
    session TTL, 60 s) expires -- the check is against the lease's remaining
    TTL read just before the kill.  The observer sees p1, p2, p3 in order.
    LOCK_ELECT_FAST=1 revokes the dead leader's lease instead of waiting (~60 s
    shorter; the expiry path is then covered by the lock --ttl scenario only).

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_lock_elect.py [name-filter...]
      CAPSTAN_BIN=/usr/bin/etcd ... validates the test (etcd vs etcd must pass).
"""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ETCDCTL, DiffPair, clean_env, etcdctl, pretty_json, run_tests  # noqa: E402

FAST = os.environ.get("LOCK_ELECT_FAST", "") not in ("", "0")
WAIT_S = 15            # bound for anything that should happen promptly
PROMPT_S = 1.0         # a released lock / resigned leader is taken over within this
OK = "ok"


class Ctl:
    """A background etcdctl process; stdout lines recorded with arrival times."""

    def __init__(self, srv, *args):
        cmd = [ETCDCTL, f"--endpoints={srv.endpoint}", "--dial-timeout=2s", "--command-timeout=5s"] + list(args)
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=clean_env(ETCDCTL_API="3"),
                                  start_new_session=True)
        self.lines = []          # (t, line)
        self.err = []
        self.cv = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True)]
        for r in self.readers:
            r.start()

    def _read(self, f, sink):
        for raw in iter(f.readline, b""):
            with self.cv:
                sink.append((time.monotonic(), raw.decode("utf-8", "backslashreplace").rstrip("\n")))
                self.cv.notify_all()

    def wait_line(self, regex, timeout=WAIT_S, start=0):
        """Time of the first stdout line (index >= start) matching regex, or None."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, line in self.lines[start:]:
                    if rx.search(line):
                        return t
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not any(r.is_alive() for r in self.readers)):
                    return None
                self.cv.wait(min(left, 0.1))

    def line_time(self, regex):
        with self.cv:
            for t, line in self.lines:
                if re.search(regex, line):
                    return t
        return None

    def stdout(self):
        with self.cv:
            return [line for _, line in self.lines]

    def stderr(self):
        with self.cv:
            return [line for _, line in self.err]

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return time.monotonic()

    def wait(self, timeout=WAIT_S):
        """Exit code, or 'still running after Ns' (then killed)."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = f"still running after {timeout}s"
        for r in self.readers:
            r.join(timeout=5)
        return rc

    def kill(self):
        """SIGKILL the process group (etcdctl and the command it runs)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class Transcript:
    """What one server did in a scenario: [(step, value)], values normalized."""

    def __init__(self, srv, norm):
        self.srv, self.norm = srv, norm
        self.steps = []
        self.procs = []

    def ctl(self, *args):
        c = Ctl(self.srv, *args)
        self.procs.append(c)
        return c

    def learn(self, text):
        """Register the lease ids in key names <name>/<hex> found in text (in order)."""
        for m in re.finditer(r"\b(?:mylock|myelection)/([0-9a-f]{1,16})\b", text):
            self.norm.add_lease(int(m.group(1), 16))

    def record(self, step, value):
        if isinstance(value, str):
            value = self.norm(value)
        self.steps.append((step, value))

    def output(self, step, c, rc=None):
        """stdout lines, stderr lines and (when given) the exit code of a process."""
        out = "\n".join(c.stdout())
        self.learn(out)
        v = {"stdout": self.norm(out).split("\n") if out else [], "stderr": [self.norm(l) for l in c.stderr()]}
        if rc is not None:
            v["exit code"] = rc
        self.steps.append((step, v))

    def check(self, step, cond, detail=""):
        self.steps.append(("check: " + step, OK if cond else f"FAILED ({detail})"))

    def get_prefix(self, step, prefix):
        """`get --prefix -w json`, kvs ordered by create revision (lease ids
        learned in that order)."""
        rc, out, err = etcdctl(self.srv.endpoint, "get", "--prefix", prefix, "-w", "json")
        if rc != 0:
            self.record(step, f"exit code {rc}: {err}")
            return []
        doc = json.loads(out)
        kvs = sorted(doc.get("kvs", []), key=lambda kv: kv["create_revision"])
        keys = [base64.b64decode(kv["key"]).decode() for kv in kvs]
        self.learn(" ".join(keys))
        for kv in kvs:   # decoded, so that the lease ids in key names normalize
            for f in ("key", "value"):
                if f in kv:
                    kv[f] = base64.b64decode(kv[f]).decode("utf-8", "backslashreplace")
        doc["kvs"] = kvs
        text = self.norm(json.dumps(doc, separators=(",", ":")))
        self.record(step, pretty_json(text) or text)
        return keys

    def ctl_once(self, step, *args, ttl=None):
        """One etcdctl call.  ttl=(lo, hi): remaining(Ns) in [lo, hi] -> <OK>
        (timing dependent; etcd truncates the remaining TTL, Capstan rounds up)."""
        rc, out, err = etcdctl(self.srv.endpoint, *args)
        shown = out
        if ttl is not None:
            shown = re.sub(r"remaining\((-?\d+)s\)", lambda m: "remaining(<OK>)"
                           if ttl[0] <= int(m.group(1)) <= ttl[1] else m.group(0), out)
        self.record(step, f"exit code: {rc}\n--- stdout:\n{shown}--- stderr:\n{err}")
        return rc, out, err

    def cleanup(self):
        for c in self.procs:
            c.kill()


def run_both(p, scenario):
    """Run scenario(transcript) on both servers at once; compare the transcripts."""
    results = {}

    def one(srv, norm):
        tr = Transcript(srv, norm)
        try:
            scenario(tr)
        except Exception:  # noqa: BLE001 - reported as a step
            tr.steps.append(("scenario raised", traceback.format_exc()))
        finally:
            tr.cleanup()
        results[srv] = tr.steps

    threads = [threading.Thread(target=one, args=sn) for sn in p.servers()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ref, cand = results[p.ref], results[p.cand]
    for i in range(max(len(ref), len(cand))):
        rs, rv = ref[i] if i < len(ref) else ("(missing)", None)
        cs, cv = cand[i] if i < len(cand) else ("(missing)", None)
        if rs.startswith("check: ") or cs.startswith("check: "):
            p.compare((rs if rs == cs else f"{rs} / {cs}") + " [left: expected on both servers]",
                      [OK, OK], [rv, cv])
        elif rs == cs:
            p.compare(rs, rv, cv)
        else:
            p.compare(f"step {i}: {rs} / {cs}", [rs, rv], [cs, cv], what="the scripts diverged")
            break


def secs(x):
    return "never" if x is None else f"{x:.2f}s"


# ---------------------------------------------------------------------------
# lock

def test_lock_two_contenders():
    def scenario(tr):
        a = tr.ctl("lock", "mylock", "--", "sh", "-c",
                   'echo "A held $ETCD_LOCK_KEY rev $ETCD_LOCK_REV"; sleep 2; echo "A done"')
        t_a = a.wait_line("^A held")
        tr.check("A acquires the free lock", t_a is not None, f"A: {a.stdout()} {a.stderr()}")
        tr.learn("\n".join(a.stdout()))
        b = tr.ctl("lock", "mylock", "--", "sh", "-c", 'echo "B held $ETCD_LOCK_KEY rev $ETCD_LOCK_REV"')
        time.sleep(0.7)
        tr.get_prefix("while A holds: A's key, then B's waiting key", "mylock")
        tr.check("B blocks while A holds", b.line_time("^B held") is None, f"B: {b.stdout()}")
        rc_a, rc_b = a.wait(), b.wait()
        t_done, t_b = a.line_time("^A done"), b.line_time("^B held")
        tr.check("B acquires only after A's command ended, and promptly",
                 t_done is not None and t_b is not None and t_done <= t_b <= t_done + PROMPT_S,
                 f"A done at {secs(t_done and t_done - a.t0)}, B held at {secs(t_b and t_b - a.t0)}")
        tr.check("B waited for about A's 2 s", t_b is not None and t_a is not None and t_b - t_a >= 1.5,
                 f"B held {secs(t_b and t_a and t_b - t_a)} after A")
        tr.output("A output", a, rc_a)
        tr.output("B output", b, rc_b)
        tr.get_prefix("after both: no lock key left", "mylock")
        tr.ctl_once("sessions still leased (etcdctl lock never closes its session)", "lease", "list")
    with DiffPair(name="lock2") as p:
        run_both(p, scenario)


def test_lock_released_on_sigint():
    def scenario(tr):
        h = tr.ctl("lock", "mylock")
        t_h = h.wait_line("^mylock/")
        tr.check("holder prints its key", t_h is not None, f"{h.stdout()} {h.stderr()}")
        tr.learn("\n".join(h.stdout()))
        w = tr.ctl("lock", "mylock", "--", "sh", "-c", 'echo "W held $ETCD_LOCK_KEY rev $ETCD_LOCK_REV"')
        time.sleep(1.0)
        tr.get_prefix("holder and waiter keys", "mylock")
        tr.check("waiter blocks while the holder runs", w.line_time("^W held") is None, f"W: {w.stdout()}")
        t_int = h.signal(signal.SIGINT)
        t_w = w.wait_line("^W held")
        tr.check("waiter gets the lock promptly after SIGINT (holder unlocks)",
                 t_w is not None and t_w - t_int <= PROMPT_S, f"after {secs(t_w and t_w - t_int)}")
        tr.output("holder output (SIGINT)", h, h.wait())
        tr.output("waiter output", w, w.wait())
        tr.get_prefix("no lock key left", "mylock")
    with DiffPair(name="locksig") as p:
        run_both(p, scenario)


def test_lock_ttl_holder_killed():
    ttl = 3

    def scenario(tr):
        h = tr.ctl("lock", f"--ttl={ttl}", "mylock")
        t_h = h.wait_line("^mylock/")
        tr.check("holder prints its key", t_h is not None, f"{h.stdout()} {h.stderr()}")
        tr.learn("\n".join(h.stdout()))
        w = tr.ctl("lock", "mylock", "--", "sh", "-c", 'echo "W held $ETCD_LOCK_KEY rev $ETCD_LOCK_REV"')
        time.sleep(1.0)
        keys = tr.get_prefix("holder and waiter keys", "mylock")
        holder_lease = keys[0].split("/")[1] if keys else "0"
        tr.ctl_once("holder's session lease", "lease", "timetolive", holder_lease, ttl=(1, ttl))
        t_kill = h.signal(signal.SIGKILL)
        rc_h = h.wait()
        t_w = w.wait_line("^W held", timeout=ttl + 10)
        dt = None if t_w is None else t_w - t_kill
        # keep-alives every TTL/3 s: between TTL-1 and TTL s left at the kill
        tr.check(f"lock freed by the session TTL ({ttl} s) expiring, not before: {ttl - 1.5}s <= t <= {ttl + 3}s",
                 dt is not None and ttl - 1.5 <= dt <= ttl + 3, f"waiter got it {secs(dt)} after the kill")
        tr.output("killed holder output", h, rc_h)
        tr.output("waiter output", w, w.wait())
        tr.ctl_once("killed holder's lease expired", "lease", "timetolive", holder_lease)
        tr.get_prefix("no lock key left", "mylock")
    with DiffPair(name="lockttl") as p:
        run_both(p, scenario)


# ---------------------------------------------------------------------------
# elect

def test_elect_campaign_observe():
    def scenario(tr):
        obs = tr.ctl("elect", "-l", "myelection")
        time.sleep(0.5)
        tr.check("observer prints nothing without a leader", obs.stdout() == [], f"{obs.stdout()}")
        p1 = tr.ctl("elect", "myelection", "p1")
        tr.check("p1 elected", p1.wait_line("^p1$") is not None, f"{p1.stdout()} {p1.stderr()}")
        tr.learn("\n".join(p1.stdout()))
        p2 = tr.ctl("elect", "myelection", "p2")
        time.sleep(0.7)
        tr.get_prefix("candidates: p1 (leader), p2", "myelection")
        tr.check("observer sees p1", obs.wait_line("^p1$") is not None, f"{obs.stdout()}")
        tr.check("p2 waits", p2.stdout() == [], f"{p2.stdout()}")

        # leader dies gracefully: etcdctl resigns
        t_term = p1.signal(signal.SIGTERM)
        t_p2 = p2.wait_line("^p2$")
        tr.check("p2 leads promptly after p1's SIGTERM (resign)",
                 t_p2 is not None and t_p2 - t_term <= PROMPT_S, f"after {secs(t_p2 and t_p2 - t_term)}")
        tr.output("p1 output (SIGTERM)", p1, p1.wait())
        tr.check("observer sees p2", obs.wait_line("^p2$") is not None, f"{obs.stdout()}")
        p3 = tr.ctl("elect", "myelection", "p3")
        time.sleep(0.7)
        keys = tr.get_prefix("candidates: p2 (leader), p3", "myelection")
        p2_lease = keys[0].split("/")[1] if keys else "0"

        # leader dies hard: its key stays until its session lease expires
        _, ttl_out, _ = etcdctl(tr.srv.endpoint, "lease", "timetolive", p2_lease)
        m = re.search(r"remaining\((-?\d+)s\)", ttl_out)
        remaining = int(m.group(1)) if m else None
        tr.check("p2's session lease: etcdctl's default TTL 60 s",
                 remaining is not None and 40 <= remaining <= 60, ttl_out.strip())
        t_kill = p2.signal(signal.SIGKILL)
        rc_p2 = p2.wait()
        time.sleep(1.5)
        tr.check("p3 not elected while the dead leader's lease lives", p3.stdout() == [], f"{p3.stdout()}")
        tr.get_prefix("dead leader's key still there", "myelection")
        if FAST:
            t_gone = time.monotonic()
            tr.ctl_once("revoke the dead leader's lease (LOCK_ELECT_FAST)", "lease", "revoke", p2_lease)
            t_p3 = p3.wait_line("^p3$")
            tr.check("p3 leads promptly after the revoke",
                     t_p3 is not None and t_p3 - t_gone <= PROMPT_S, f"after {secs(t_p3 and t_p3 - t_gone)}")
        else:
            lo, hi = (remaining or 60) - 1.5, (remaining or 60) + 3
            t_p3 = p3.wait_line("^p3$", timeout=hi + 5)
            dt = None if t_p3 is None else t_p3 - t_kill
            tr.check("p3 leads when the dead leader's session lease expires (remaining TTL at the kill "
                     "-1.5 s .. +3 s)", dt is not None and lo <= dt <= hi,
                     f"after {secs(dt)}, remaining TTL was {remaining}")
        tr.check("observer sees p3", obs.wait_line("^p3$") is not None, f"{obs.stdout()}")
        tr.output("p2 output (SIGKILL)", p2, rc_p2)
        tr.ctl_once("dead leader's lease gone", "lease", "timetolive", p2_lease)
        tr.get_prefix("candidates: p3", "myelection")
        p3.signal(signal.SIGINT)
        tr.output("p3 output (SIGINT: resigns)", p3, p3.wait())
        time.sleep(0.5)
        tr.get_prefix("no candidate left", "myelection")
        obs.signal(signal.SIGINT)
        tr.output("observer output (leaders in order)", obs, obs.wait())
        tr.check("observer saw exactly p1, p2, p3", obs.stdout()[1::2] == ["p1", "p2", "p3"], f"{obs.stdout()}")
    with DiffPair(name="elect") as p:
        run_both(p, scenario)


if __name__ == "__main__":
    run_tests(globals())
