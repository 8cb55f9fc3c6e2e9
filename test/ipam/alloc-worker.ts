// A separate tortie process allocating from a shared state dir: node --import tsx alloc-worker.ts DIR HOST N TAG
import { Ipam } from "../../src/ipam/index.ts";
import { openFileStore } from "../../src/store/index.ts";

const [dir, host, count, tag] = process.argv.slice(2);
const client = openFileStore(dir!);
const ipam = new Ipam(client.backend);
const ips: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const r = await ipam.autoAssign({
    num4: 1,
    hostname: host!,
    handleId: `${tag}-${i}`,
    intendedUse: "Workload",
  });
  ips.push(...(r.v4?.ips ?? []));
  // Give some addresses back so the other process reuses freed ordinals while this one runs.
  if (i % 5 === 4) {
    await ipam.releaseByHandle(`${tag}-${i - 2}`);
    ips.splice(ips.length - 3, 1);
  }
}
await client.backend.close();
process.stdout.write(JSON.stringify(ips));
