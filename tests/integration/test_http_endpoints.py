"""The HTTP endpoints etcd serves on --listen-metrics-urls: /health (what
Kubernetes' probes call), /version and /metrics."""
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, candidate_binary, free_port, run_tests  # noqa: E402


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def test_health_version_metrics():
    port = free_port()
    with Server(candidate_binary(), "http", extra_args=[
            "--listen-metrics-urls", f"http://127.0.0.1:{port}"]) as srv:
        status, ctype, body = get(port, "/health")
        assert status == 200 and ctype == "application/json", (status, ctype)
        assert json.loads(body) == {"health": "true", "reason": ""}, body
        status, _, body = get(port, "/health?exclude=NOSPACE&serializable=true")
        assert status == 200 and json.loads(body)["health"] == "true", body
        status, _, body = get(port, "/version")
        v = json.loads(body)
        assert status == 200 and v["etcdserver"].startswith("3.5.") and v["etcdcluster"] == "3.5.0", v
        status, ctype, body = get(port, "/metrics")
        assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
        assert "etcd_server_has_leader 1\n" in body, body
        assert "etcd_debugging_mvcc_current_revision 1\n" in body, body
        assert "etcd_debugging_mvcc_watcher_total 0\n" in body, body
        assert "etcd_debugging_mvcc_slow_watcher_total 0\n" in body, body
        status, _, _ = get(port, "/nope")
        assert status == 404


if __name__ == "__main__":
    run_tests(globals())
