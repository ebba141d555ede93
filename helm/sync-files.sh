#!/bin/sh
# Refreshes the chart's copies of the alert rules and dashboards: Helm can only read files inside
# the chart, so helm/fast-channels/files/ holds byte-identical copies of
#   ops/prometheus/*.rules.yml  ->  files/prometheus/
#   dashboards/*.json           ->  files/dashboards/
# tests/deploy/test_chart_files.py fails while the copies differ from their sources.
# Usage: helm/sync-files.sh
set -eu
cd "$(dirname "$0")/.."
files=helm/fast-channels/files

sync() {
    # sync SOURCE_DIR PATTERN DEST_DIR: DEST holds exactly the SOURCE files matching PATTERN.
    mkdir -p "$3"
    find "$3" -mindepth 1 -maxdepth 1 -type f -name "$2" -delete
    find "$1" -mindepth 1 -maxdepth 1 -type f -name "$2" -exec cp {} "$3"/ \;
}

sync ops/prometheus '*.rules.yml' "$files/prometheus"
sync dashboards '*.json' "$files/dashboards"
echo "synced: $(find "$files" -type f | sort | tr '\n' ' ')"
