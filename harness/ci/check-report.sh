#!/usr/bin/env bash
# A real browser looks at the HTML report (crashtest::report::html): runs
# scenarios/seed-prefix.toml with --report, then has
# Debian's headless Chromium take a screenshot and dump the DOM. Checks that the PNG is not
# blank and that the DOM holds the summary. Not part of `cargo test` (it needs Chromium);
# run it by hand or in a CI job that can install Debian packages:
#
#   harness/ci/check-report.sh [OUT_DIR]     # default OUT_DIR: target/check-report
#
# Leaves OUT_DIR/report.html, OUT_DIR/report.png (look at it) and OUT_DIR/dom.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/check-report}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

say() { echo "check-report: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

chromium="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium" ]; then
    [ "$(id -u)" = 0 ] || fail "chromium is missing: apt-get install -y chromium"
    say "installing chromium (Debian package)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
    chromium="$(command -v chromium)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cargo build --release --quiet

# seed-prefix expects to fail and does: exit 0. Exit 1 (expectation not met) still has
# results worth rendering; 2 and 3 mean no usable run.
status=0
./target/release/crashtest run scenarios/seed-prefix.toml --results "$tmp/results" \
    --report "$out/report.html" >"$tmp/run.log" 2>&1 || status=$?
[ "$status" -le 1 ] || { cat "$tmp/run.log" >&2; fail "crashtest run exited $status"; }
results=("$tmp"/results/*.jsonl)
[ -s "${results[0]}" ] || fail "no results file in $tmp/results"

[ -s "$out/report.html" ] || fail "crashtest run --report wrote nothing"

flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars
    --user-data-dir="$tmp/profile")
url="file://$out/report.html"
rm -f "$out/report.png"
"$chromium" "${flags[@]}" --screenshot="$out/report.png" --window-size=1200,2000 "$url" \
    >"$tmp/chromium.log" 2>&1 || { cat "$tmp/chromium.log" >&2; fail "chromium --screenshot failed"; }
[ -f "$out/report.png" ] || fail "no screenshot at $out/report.png"
size=$(wc -c <"$out/report.png")
# A blank 1200x2000 page compresses to a few KB; this page with its table, chart and
# failures is well over 50 KB.
[ "$size" -gt 30000 ] || fail "screenshot is only $size bytes: blank page?"

"$chromium" "${flags[@]}" --dump-dom "$url" >"$out/dom.html" 2>"$tmp/chromium.log" \
    || { cat "$tmp/chromium.log" >&2; fail "chromium --dump-dom failed"; }
summary=$(grep -o '"type":"summary".*' "${results[0]}")
failed=$(sed -E 's/.*"failed":([0-9]+).*/\1/' <<<"$summary")
trials=$(sed -E 's/.*"trials":([0-9]+).*/\1/' <<<"$summary")
for want in "<h2>Summary</h2>" "seed-prefix" "$trials trials · $failed failed · 1 distinct failure" \
    "every expectation met" \
    "<svg class=\"chart\"" "crashtest repro scenarios/seed-prefix.toml"; do
    grep -qF -- "$want" "$out/dom.html" || fail "the rendered DOM lacks: $want"
done
say "OK: $trials trials, $failed failed; screenshot $out/report.png ($size bytes), DOM $out/dom.html"
