#!/bin/sh
# The third-party suite's stress run: every test binary of tests/src/thirdparty.rs (the CI tier,
# the slow ones and those known to fail, each with its reason), recorded whole 20 times under
# --chaos with seeds 1..20 and each recording replayed; a recording whose tests fail or a replay
# that differs fails its trial (traces kept; the message says where).
#
#   sh bench/thirdparty_stress.sh                      # all of it (hours on 2 cores)
#   SEEDS=3 sh bench/thirdparty_stress.sh              # fewer seeds
#   CHAOS=0 sh bench/thirdparty_stress.sh              # without chaos, SEEDS runs each
#   sh bench/thirdparty_stress.sh crossbeam-channel/   # a libtest filter on the names
#
# Uses the release build; CRT_TIMEOUT_SECS (120) limits each record and each replay.
set -eu
cd "$(dirname "$0")/.."
export CRT_THIRDPARTY_ALL=1
export CRT_THIRDPARTY_SEEDS="${SEEDS:-20}"
export CRT_THIRDPARTY_CHAOS="${CHAOS:-1}"
exec cargo test --release -p tests --test thirdparty -- --include-ignored --test-threads=1 "$@"
