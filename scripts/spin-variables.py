#!/usr/bin/env python3
"""Writes every variable of a spin.toml for Spin's static provider.

usage: scripts/spin-variables.py spin.toml OUT_DIR
       scripts/spin-variables.py --runtime-config BASE.toml spin.toml > runtime-config.toml

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

With --runtime-config, for SpinKube: the containerd shim passes no
`--variable` (it reads only /runtime-config.toml, which the SpinApp's
`runtimeConfig.loadFromSecret` mounts), so the same values, secrets
included, go to stdout as BASE followed by a `[[variables_provider]]` of
`type = "static"`. That file holds secrets: it belongs in a Kubernetes
Secret only.
"""

import json
import os
import sys
import tomllib


def values(manifest: str) -> list[tuple[str, str, bool]]:
    """(name, value, secret) for every variable with a value."""
    with open(manifest, "rb") as f:
        declared = tomllib.load(f).get("variables", {})
    out = []
    for name, decl in sorted(declared.items()):
        value = os.environ.get(f"SPIN_VARIABLE_{name.upper()}", decl.get("default"))
        if value is not None:
            out.append((name, value, decl.get("secret", False)))
    return out


def runtime_config(base: str, manifest: str) -> int:
    with open(base) as f:
        text = f.read()
    lines = [text.rstrip("\n"), "", "# Every variable, for Spin's static provider (scripts/spin-variables.py).",
             "[[variables_provider]]", 'type = "static"', "[variables_provider.values]"]
    # A JSON string is a valid TOML basic string.
    lines += [f"{name} = {json.dumps(value)}" for name, value, _ in values(manifest)]
    print("\n".join(lines))
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--runtime-config":
        return runtime_config(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 3:
        print("\n".join(__doc__.strip().splitlines()[2:4]), file=sys.stderr)
        return 2
    manifest, out_dir = sys.argv[1], sys.argv[2]
    secrets_dir = os.path.join(out_dir, "secrets")
    os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)

    plain = {}
    sources = []
    for name, value, secret in values(manifest):
        if secret:
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
