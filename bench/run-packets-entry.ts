/**
 * The packet rows of `npm run bench` on their own (bench/sim-packets.ts), for measuring the packet path alone
 * under tsx or bundled: `npx esbuild bench/run-packets-entry.ts --bundle --platform=node --format=esm
 * --outfile=/tmp/packets.mjs && node /tmp/packets.mjs`. BENCH_SCALE scales the counts as in bench/run.ts.
 */
import { benchSimPackets } from "./sim-packets.ts";

const scale = Number(process.env.BENCH_SCALE ?? "1");
await benchSimPackets((what, count, ms, extra = "") => {
  const rate = Math.round((count / ms) * 1000).toLocaleString("en-US");
  console.log(`${what}: ${count} in ${ms.toFixed(0)} ms, ${rate}/s${extra ? `; ${extra}` : ""}`);
}, scale);
