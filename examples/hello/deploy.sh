#!/bin/sh
# deploy: starts the built app under waypoint-entrypoint as this job's deployment, on a port of its own,
# and leaves it running. The job gets WAYPOINT_SERVER_ADDR, WAYPOINT_CEB_INVITE_TOKEN and
# WAYPOINT_DEPLOYMENT_ID from waypoint; the entrypoint uses them to register the instance.
# setsid: the app leaves the job's process group, which waypoint ends with the job.
set -eu
cd "$(dirname "$0")"
: "${WAYPOINT_DEPLOYMENT_ID:?deploy runs as a waypoint deploy job (waypoint up / waypoint deploy)}"
if [ -z "${WAYPOINT_ENTRYPOINT:-}" ]; then
  if command -v waypoint-entrypoint >/dev/null 2>&1; then WAYPOINT_ENTRYPOINT=waypoint-entrypoint
  else WAYPOINT_ENTRYPOINT="node ../../dist/bin/waypoint-entrypoint.js"; fi
fi
mkdir -p run
port=$(( ${HELLO_BASE_PORT:-18080} + $(echo "$WAYPOINT_DEPLOYMENT_ID" | sed 's/.*-v//') % 100 ))
PORT=$port setsid $WAYPOINT_ENTRYPOINT node build/app.mjs >"run/$WAYPOINT_DEPLOYMENT_ID.log" 2>&1 </dev/null &
echo $! > "run/$WAYPOINT_DEPLOYMENT_ID.pid"
echo "$port" > "run/$WAYPOINT_DEPLOYMENT_ID.port"
# Wait until it answers (10 s at most), so a deploy that cannot start fails here.
i=0
until node -e "fetch('http://127.0.0.1:$port/').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -ge 50 ]; then echo "the app did not answer on port $port; see run/$WAYPOINT_DEPLOYMENT_ID.log" >&2; exit 1; fi
  sleep 0.2
done
echo "deployed $WAYPOINT_DEPLOYMENT_ID on http://127.0.0.1:$port/"
