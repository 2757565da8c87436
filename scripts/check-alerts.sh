#!/usr/bin/env bash
# Checks the Prometheus alerting rules: `promtool check rules` on config/prometheus/alerts.yml,
# `promtool test rules` on config/prometheus/alerts_test.yml, and a runbook page for every alert at
# the path its runbook_url names (and a line for it in runbooks/README.md).
# Installs promtool (Debian/Ubuntu package `prometheus`) when it is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

rules=config/prometheus/alerts.yml
tests=config/prometheus/alerts_test.yml
runbook_prefix=https://github.com/clientele/clientele/blob/main/
runbook_index=runbooks/README.md

# promtool comes with Debian's prometheus package, installed when missing.
command -v promtool >/dev/null 2>&1 || scripts/install-deps.sh --test
command -v promtool >/dev/null 2>&1 || { echo "error: promtool not found after installing prometheus" >&2; exit 1; }

promtool check rules "$rules"
promtool test rules "$tests"

# Every alert: a runbook_url under the repository's blob URL, a file at that path, and a mention in
# the index. The rules file is read line by line: `- alert: NAME` opens an alert, the next
# `runbook_url:` belongs to it.
failures=()
alerts=()
current=""
current_url=""
close_alert() {
  [ -n "$current" ] || return 0
  alerts+=("$current")
  if [ -z "$current_url" ]; then
    failures+=("$current: no runbook_url annotation")
  elif [[ "$current_url" != "$runbook_prefix"* ]]; then
    failures+=("$current: runbook_url $current_url does not start with $runbook_prefix")
  else
    local path="${current_url#"$runbook_prefix"}"
    [ -f "$path" ] || failures+=("$current: runbook $path (named by its runbook_url) does not exist")
    [[ "$path" == */"$current.md" ]] || failures+=("$current: runbook_url names $path, not a page named after the alert ($current.md)")
    grep -qF "alerts/$current.md" "$runbook_index" 2>/dev/null || failures+=("$current: not listed in $runbook_index")
  fi
}
while IFS= read -r line; do
  if [[ "$line" =~ ^[[:space:]]*-[[:space:]]+alert:[[:space:]]*([A-Za-z0-9_]+) ]]; then
    close_alert
    current="${BASH_REMATCH[1]}"
    current_url=""
  elif [[ "$line" =~ ^[[:space:]]*-[[:space:]]+record: ]]; then
    close_alert
    current=""
  elif [ -n "$current" ] && [ -z "$current_url" ] && [[ "$line" =~ ^[[:space:]]*runbook_url:[[:space:]]*[\"\']?([^\"\'[:space:]]+) ]]; then
    current_url="${BASH_REMATCH[1]}"
  fi
done < "$rules"
close_alert

if [ ${#alerts[@]} -eq 0 ]; then
  echo "error: no alert found in $rules" >&2
  exit 1
fi
if [ ${#failures[@]} -gt 0 ]; then
  echo "error: runbook check failed for $rules:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "runbooks: ${#alerts[@]} alerts, each with its page under runbooks/alerts/ and a line in $runbook_index"
