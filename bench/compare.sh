#!/usr/bin/env bash
# bench/compare.sh OLD.json NEW.json: two bench/run.sh result files side by side.
# Needs nothing but awk/sed: run.sh writes one scenario per line for this reason.
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: bench/compare.sh OLD.json NEW.json" >&2
    exit 2
fi
old=$1 new=$2

# field FILE SCENARIO KEY: a numeric field of one scenario's line ("" when absent or null).
field() {
    grep "^{\"name\":\"$2\"" "$1" | sed -n "s/.*\"$3\":\([-0-9.]*\)[,}].*/\1/p" | head -n1 || true
}
# top FILE KEY: a top-level numeric field.
top() { sed -n "s/^\"$2\":\([-0-9.]*\),\{0,1\}$/\1/p" "$1" | head -n1 || true; }
pct() { # pct OLD NEW: relative change
    if [[ -z "$1" || -z "$2" ]]; then echo "-"; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == 0) print "-"; else printf "%+.0f%%", 100 * (b - a) / a }'
}

echo "old: $old ($(sed -n 's/^"date":"\(.*\)",$/\1/p' "$old"))"
echo "new: $new ($(sed -n 's/^"date":"\(.*\)",$/\1/p' "$new"))"
printf '%-15s %9s %9s %6s | %8s %8s %6s | %8s %8s %6s | %8s %8s\n' scenario \
    "req/s" "" "" "p99 ms" "" "" "cpu us/r" "" "" "vs nginx" ""
printf '%-15s %9s %9s %6s | %8s %8s %6s | %8s %8s %6s | %8s %8s\n' "" \
    old new change old new change old new change old new
names=$(grep -ho '^{"name":"[a-z_]*"' "$old" "$new" | sed 's/.*:"\(.*\)"/\1/' | awk '!seen[$0]++')
for n in $names; do
    r0=$(field "$old" "$n" rps); r1=$(field "$new" "$n" rps)
    p0=$(field "$old" "$n" p99); p1=$(field "$new" "$n" p99)
    c0=$(field "$old" "$n" server_cpu_us_per_request); c1=$(field "$new" "$n" server_cpu_us_per_request)
    g0=$(field "$old" "$n" ratio_to_nginx); g1=$(field "$new" "$n" ratio_to_nginx)
    ms() { [[ -n "$1" ]] && awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }' || echo -; }
    ratio() { [[ -n "$1" ]] && awk -v v="$1" 'BEGIN { printf "%.0f%%", 100 * v }' || echo -; }
    printf '%-15s %9s %9s %6s | %8s %8s %6s | %8s %8s %6s | %8s %8s\n' "$n" \
        "${r0:--}" "${r1:--}" "$(pct "$r0" "$r1")" "$(ms "$p0")" "$(ms "$p1")" "$(pct "$p0" "$p1")" \
        "${c0:--}" "${c1:--}" "$(pct "$c0" "$c1")" "$(ratio "$g0")" "$(ratio "$g1")"
done
for k in idle_rss_kb peak_rss_kb; do
    a=$(top "$old" "$k"); b=$(top "$new" "$k")
    printf '%-15s %9s %9s %6s\n' "${k%_kb} MB" \
        "$([[ -n "$a" ]] && awk -v v="$a" 'BEGIN { printf "%.1f", v / 1024 }' || echo -)" \
        "$([[ -n "$b" ]] && awk -v v="$b" 'BEGIN { printf "%.1f", v / 1024 }' || echo -)" "$(pct "$a" "$b")"
done
