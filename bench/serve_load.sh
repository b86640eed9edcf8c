#!/bin/sh
# The full load test of `disco serve` (the CI runs a smaller one): 20 concurrent clients submit
# 200 tiny-model jobs and follow their events; then a second wave of 200 is queued, the server is
# killed with SIGKILL mid-run and started again, and the queue completes. Prints the figures with
# the date and the machine, for docs/performance.md.
# usage: bench/serve_load.sh [BUILD_DIR]   (default: build)
set -eu
build=${1:-build}
echo "date: $(date -u +%Y-%m-%d); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
start=$(date +%s)
DISCO_SERVE_LOAD_CLIENTS=${DISCO_SERVE_LOAD_CLIENTS:-20} DISCO_SERVE_LOAD_JOBS=${DISCO_SERVE_LOAD_JOBS:-200} \
  "$build/tests/test_serve" --gtest_filter=ServeLoad.* 2>&1 | grep -E "serve load:|OK \]|FAILED|Failure|Expected|Which is|actual"
echo "whole test: $(( $(date +%s) - start )) s (two server starts included)"
