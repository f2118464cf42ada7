#!/usr/bin/env python3
"""Writes every variable of a spin.toml for Spin's static provider.

usage: scripts/spin-variables.py spin.toml OUT_DIR

Spin 4.0.2 asks `spin up --variable` first (a map read) and the environment
provider last (one `block_in_place` per lookup, and an instance's first
PostgreSQL, HTTP or Redis call resolves every variable). So `make up`,
`make cluster` and `make bench` hand Spin every variable up front:

- the non-secret ones in OUT_DIR/variables.toml: the operator's
  SPIN_VARIABLE_<NAME> when set, otherwise the manifest's default;
- each secret in a file of its own, OUT_DIR/secrets/<name> (mode 0600, the
  exact value, no newline), passed as `name=@path` so no settings file
  holds a secret.

Prints the `--variable` values, one a line, for the caller to pass on. A
required variable with no value is left out, so Spin refuses to start and
names it.
"""

import json
import os
import sys
import tomllib


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    manifest, out_dir = sys.argv[1], sys.argv[2]
    with open(manifest, "rb") as f:
        declared = tomllib.load(f).get("variables", {})
    secrets_dir = os.path.join(out_dir, "secrets")
    os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)

    plain = {}
    sources = []
    for name, decl in sorted(declared.items()):
        value = os.environ.get(f"SPIN_VARIABLE_{name.upper()}", decl.get("default"))
        if value is None:
            continue
        if decl.get("secret", False):
            path = os.path.join(secrets_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value)
            sources.append(f"{name}=@{os.path.abspath(path)}")
        else:
            plain[name] = value

    settings = os.path.join(out_dir, "variables.toml")
    with open(settings, "w") as f:
        f.write("# Written by scripts/spin-variables.py from spin.toml; secrets are beside it.\n")
        for name, value in plain.items():
            # A JSON string is a valid TOML basic string.
            f.write(f"{name} = {json.dumps(value)}\n")
    print(f"@{os.path.abspath(settings)}")
    for source in sources:
        print(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
