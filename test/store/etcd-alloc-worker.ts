// A separate tortie process allocating pod addresses on a shared etcd:
// node --import tsx etcd-alloc-worker.ts ENDPOINT KEY_PREFIX NODE COUNT TAG. Prints the addresses it holds (JSON).
import { Ipam } from "../../src/ipam/index.ts";
import { EtcdBackend } from "../../src/store/index.ts";

const [endpoint, keyPrefix, node, count, tag] = process.argv.slice(2);
const backend = new EtcdBackend([endpoint!], { keyPrefix: keyPrefix! });
const ipam = new Ipam(backend);
const held: { handle: string; ips: string[] }[] = [];
for (let i = 0; i < Number(count); i++) {
  const handle = `${tag}-${i}`;
  const r = await ipam.autoAssign({ num4: 1, hostname: node!, handleId: handle, intendedUse: "Workload" });
  held.push({ handle, ips: r.v4?.ips ?? [] });
  // Give one back now and then, so the other process may reuse a freed ordinal while this one runs.
  if (i % 4 === 3) await ipam.releaseByHandle(held.splice(1, 1)[0]!.handle);
}
await backend.close();
process.stdout.write(JSON.stringify(held.flatMap((h) => h.ips)));
