"""Schemathesis hooks for the contract test (tests/tools/main.rs).

- A real client sends a fresh `Idempotency-Key` per logical request;
  schemathesis would reuse a generated key with different bodies, which
  the API rightly refuses (422 `idempotency-key-reused`, pinned by
  tests/api/idempotency.rs). So every call that carries a key gets a new one.
- The run authenticates as one administrator. Its stateful phase can
  promote a user it registered and then demote, disable or delete that
  administrator through `/users/{id}` (ids it reads from listings), which
  the API allows once another admin exists; every later login would then
  fail. So a call aimed at the run's own account is aimed at a fresh id.
"""

import os
import uuid

import schemathesis

ADMIN_ID = os.environ["SPIN_USERS_ADMIN_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    if case.path_parameters and case.path_parameters.get("id") == ADMIN_ID:
        case.path_parameters["id"] = str(uuid.uuid4())
