"""Lease-safety checker over a recorded history (issue 13).

The invariant: no key attached to a lease disappears while the last positive
keep-alive response for that lease promised it time. A keep-alive answered
with TTL t for a request sent at time s promises the lease lives at least
until s + t (the server renewed after it received the request, so its
deadline is at least that). A read that finished at time e and did not find
the key shows the key was deleted before e.

History (all times from one monotonic clock, in seconds):
  keepalive(lease, sent, received, ttl, member)   a keep-alive response
  read(key, lease, start, end, present, member)   a read of a leased key
  leader_answer(member, sent, ttl)                (see LeaseHistory.answers_from)

check() returns human-readable violations (empty: the history is safe).
"""

import threading
from dataclasses import dataclass, field


@dataclass
class KeepAlive:
    lease: int
    sent: float
    received: float
    ttl: int
    member: str


@dataclass
class Read:
    key: str
    lease: int
    start: float
    end: float
    present: bool
    member: str


@dataclass
class LeaseHistory:
    keepalives: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def keepalive(self, lease, sent, received, ttl, member):
        with self.lock:
            self.keepalives.append(KeepAlive(lease, sent, received, ttl, member))

    def read(self, key, lease, start, end, present, member):
        with self.lock:
            self.reads.append(Read(key, lease, start, end, present, member))

    def answers_from(self, member, after, before=float("inf")):
        """Positive keep-alive answers from `member` to requests sent in (after, before)."""
        with self.lock:
            return [k for k in self.keepalives
                    if k.member == member and after < k.sent < before and k.ttl > 0]


def promised_until(history, lease, before):
    """The latest time the positive keep-alives sent before `before` promised
    lease `lease` (None if none did). One sent earlier but answered later
    counts too: the lease existed when the server renewed it (a lease that is
    gone is answered with TTL 0)."""
    best = None
    for k in history.keepalives:
        if k.lease == lease and k.ttl > 0 and k.sent <= before:
            t = k.sent + k.ttl
            best = t if best is None else max(best, t)
    return best


def check(history, slack=0.0):
    """Violations of the invariant; `slack` seconds of tolerance for clocks
    (there is one clock here, so 0 by default)."""
    violations = []
    with history.lock:
        reads = sorted(history.reads, key=lambda r: r.end)
        for r in reads:
            if r.present:
                continue
            # The key was gone by r.end.
            until = promised_until(history, r.lease, r.end)
            if until is not None and r.end + slack < until:
                violations.append(
                    f"key {r.key!r} of lease {r.lease:x} missing on {r.member} at "
                    f"{r.end:.3f} (read from {r.start:.3f}) while a keep-alive promised it "
                    f"until {until:.3f} ({until - r.end:.2f}s more)")
    return violations
