#!/bin/sh
# Regenerates pack/src/generated/trace_capnp.rs from pack/schema/trace.capnp.
# Needs the `capnp` compiler (apt install capnproto) and the `capnpc-rust` plugin of the same
# major version as the workspace's capnp crate:
#   cargo install capnpc --version 0.27.0 --root /tmp/capnpc
# The generated file is committed, so building the workspace needs neither.
set -eu
cd "$(dirname "$0")"
PLUGIN_DIR=${CAPNPC_RUST_DIR:-/tmp/capnpc/bin}
PATH="$PLUGIN_DIR:$PATH"
command -v capnpc-rust >/dev/null || { echo "capnpc-rust not found; see the comment in $0" >&2; exit 1; }
capnp compile -orust:../src/generated --src-prefix=. trace.capnp
echo "wrote $(cd ../src/generated && pwd)/trace_capnp.rs"
