#!/bin/sh
# release: points run/current at the newest deployment and stops the older ones (SIGTERM through their
# entrypoint, which forwards it to the app).
set -eu
cd "$(dirname "$0")"
# The deployment with the highest number ("APP-vN").
latest=$(ls run/*.port 2>/dev/null | sed 's#run/##; s#\.port$##' | awk -F-v '{ print $NF " " $0 }' | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$latest" ] || { echo "nothing deployed yet: run the deploy first" >&2; exit 1; }
echo "$latest" > run/current
for pidfile in run/*.pid; do
  dep=$(basename "$pidfile" .pid)
  [ "$dep" = "$latest" ] && continue
  kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile" "run/$dep.port"
  echo "stopped $dep"
done
echo "released $latest: http://127.0.0.1:$(cat "run/$latest.port")/"
