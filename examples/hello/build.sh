#!/bin/sh
# build: checks the app and stages it into build/, stamped with the job that built it.
set -eu
cd "$(dirname "$0")"
node --check app.mjs
mkdir -p build
cp app.mjs build/app.mjs
echo "${WAYPOINT_JOB_ID:-local}" > build/BUILD_ID
echo "built build/app.mjs (job ${WAYPOINT_JOB_ID:-local})"
