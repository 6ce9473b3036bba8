#!/usr/bin/env bash
# Side-by-side A/B of two (or more) ws-rs trees on one echo workload: each round runs
# bench/echo-server.js from every tree in turn (server on core 1, bench/loadgen on
# core 0) and prints its rate and the server's user and system CPU per message, from
# /proc. CPU per message moves less with the machine's noise than the rate does; take
# medians over several rounds. A tree is a directory with lib/, bench/ and index.js
# (`git archive <rev> lib bench index.js package.json | tar -x -C DIR`) and links to
# this checkout's node_modules and .node file.
#
# Usage: bench/ab.sh CONNS DEPTH SIZE SECONDS ROUNDS DIR...
# Example: bench/ab.sh 50 32 32 3 5 /tmp/ab/A /tmp/ab/B
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
conns=$1 depth=$2 size=$3 secs=$4 rounds=$5
shift 5
loadgen="$root/target/release/wsrs-loadgen"
[ -x "$loadgen" ] || cargo build --release -p wsrs-loadgen --manifest-path "$root/Cargo.toml"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
port=9600
cpu() { cut -d' ' -f14,15 "/proc/$1/stat"; }
for _ in $(seq "$rounds"); do
  for dir in "$@"; do
    port=$((port + 1))
    : >"$out"
    taskset -c 1 node "$dir/bench/echo-server.js" ws-rs "$port" >"$out" &
    pid=$!
    until grep -q ready "$out"; do sleep 0.05; done
    before=$(cpu "$pid")
    result=$(taskset -c 0 "$loadgen" "127.0.0.1:$port" "$conns" "$depth" "$size" "$secs" 0 echo)
    after=$(cpu "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    node -e '
      const [dir, result, before, after] = process.argv.slice(1);
      const r = JSON.parse(result);
      const [u0, s0] = before.split(" ").map(Number);
      const [u1, s1] = after.split(" ").map(Number);
      const us = (ticks) => ((ticks * 1e4) / r.messages).toFixed(3); // 100 ticks per second
      console.log(`${dir} rate ${r.rate} user ${us(u1 - u0)} sys ${us(s1 - s0)} us/msg`);
    ' "$dir" "$result" "$before" "$after"
  done
done
