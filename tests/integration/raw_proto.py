"""etcd request messages encoded by hand, for tests that must send what no
client library would build (nesting past protobuf's limits, truncated and
mutated messages)."""


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def field(num, payload):
    """A length-delimited field."""
    return varint((num << 3) | 2) + varint(len(payload)) + payload


def vfield(num, value):
    """A varint field."""
    return varint(num << 3) + varint(value)


def put_op(key, value=b""):
    put = field(1, key) + (field(2, value) if value else b"")
    return field(2, put)  # RequestOp.request_put


def range_op(key, range_end=b""):
    rng = field(1, key) + (field(2, range_end) if range_end else b"")
    return field(1, rng)  # RequestOp.request_range


def txn(success_ops=(), compares=()):
    """TxnRequest bytes: compare = 1, success = 2 (each op already a RequestOp)."""
    return b"".join(field(1, c) for c in compares) + b"".join(field(2, op) for op in success_ops)


def nested_txn(depth, leaf_ops):
    """`depth` txns, each the only success op of its parent; the innermost
    holds `leaf_ops`. Built outside in: linear, where wrapping inside out
    copies the message at every level."""
    inner = txn(leaf_ops)
    headers, size = [], len(inner)
    for _ in range(depth - 1):
        op = b"\x22" + varint(size)  # RequestOp.request_txn
        size += len(op)
        t = b"\x12" + varint(size)  # TxnRequest.success
        size += len(t)
        headers.append(t + op)
    return b"".join(reversed(headers)) + inner
