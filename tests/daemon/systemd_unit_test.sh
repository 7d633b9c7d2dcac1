#!/usr/bin/env bash
# The generated unit must pass systemd's own checks, and stay hardened: an exposure score (as
# `systemd-analyze security` computes it) of at most 2.0. Skipped (exit 77) without systemd-analyze.
set -euo pipefail
unit="$1"        # the generated agendad.service
binary="$2"      # the built agendad, standing in for the installed one
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|^\(ExecStart[A-Za-z]*=\)[^ ]*agendad|\1$binary|" "$unit" > "$work/agendad.service"
systemd-analyze verify "$work/agendad.service"
score="$(systemd-analyze security --offline=yes "$work/agendad.service" | sed -n 's/.*Overall exposure level for agendad.service: \([0-9.]*\).*/\1/p')"
echo "exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "exposure $score is above 2.0"; exit 1; }
