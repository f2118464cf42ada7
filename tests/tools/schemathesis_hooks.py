"""Schemathesis hooks for the contract test (tests/tools/main.rs).

A real client sends a fresh `Idempotency-Key` per logical request;
schemathesis would reuse a generated key with different bodies, which the
API rightly refuses (422 `idempotency-key-reused`, pinned by
tests/api/idempotency.rs). So every call that carries a key gets a new one.
"""

import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
