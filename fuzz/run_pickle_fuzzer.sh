#!/bin/sh
# Seeds the corpus with the data.pkl/constants.pkl of every fixture archive, then fuzzes.
# usage: fuzz/run_pickle_fuzzer.sh <pickle_fuzzer binary> [seconds (default 600)] [work dir]
set -e
bin=$1; secs=${2:-600}; work=${3:-fuzz-work}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${DISCO_FIXTURES:-$here/../../shared/fixtures}
mkdir -p "$work/corpus" "$work/seeds" "$work/crashes"
python3 - "$fixtures" "$work/seeds" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(src)):
    if not f.endswith('.pt'):
        continue
    with zipfile.ZipFile(os.path.join(src, f)) as z:
        for n in z.namelist():
            if n.endswith('.pkl'):
                open(os.path.join(dst, f + '.' + n.replace('/', '_')), 'wb').write(z.read(n))
PY
exec "$bin" -dict="$here/pickle.dict" -max_total_time="$secs" -jobs=1 -workers=1 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" -max_len=262144 -rss_limit_mb=2048 "$work/corpus" "$work/seeds"
