import type { Kernel } from "./kernel.ts";

/**
 * The sysctls the sim models, by their `sysctl` names: `net.ipv4.ip_forward`,
 * `net.ipv4.fib_multipath_hash_policy` and `net.ipv4.conf.{all,default,IFACE}.rp_filter`. Reading an unknown key answers as sysctl(8) does.
 */
export class SysctlError extends Error {}

const RP = /^net\.ipv4\.conf\.([^.]+)\.rp_filter$/;
const MULTIPATH_POLICY = "net.ipv4.fib_multipath_hash_policy";

function noSuchKey(name: string): SysctlError {
  return new SysctlError(
    `sysctl: cannot stat /proc/sys/${name.replaceAll(".", "/")}: No such file or directory`,
  );
}

function normalise(key: string): string {
  return key.replaceAll("/", ".");
}

export function sysctlGet(k: Kernel, key: string): number {
  const name = normalise(key);
  if (name === "net.ipv4.ip_forward") return k.sysctl.ipForward ? 1 : 0;
  if (name === MULTIPATH_POLICY) return k.sysctl.multipathHashPolicy;
  const m = RP.exec(name);
  if (m) {
    if (m[1] === "all") return k.sysctl.rpFilter;
    if (m[1] === "default") return k.sysctl.rpFilterDefault;
    const link = k.links.get(m[1]!);
    if (link) return link.rpFilter;
  }
  throw noSuchKey(name);
}

export function sysctlSet(k: Kernel, key: string, value: number): void {
  const name = normalise(key);
  if (name === "net.ipv4.ip_forward") {
    k.sysctl.ipForward = value !== 0;
    return;
  }
  if (name === MULTIPATH_POLICY) {
    if (!(value >= 0 && value <= 3)) throw new SysctlError(`sysctl: setting key "${name}": Invalid argument`);
    k.sysctl.multipathHashPolicy = value;
    return;
  }
  const m = RP.exec(name);
  if (m) {
    if (!(value === 0 || value === 1 || value === 2))
      throw new SysctlError(`sysctl: setting key "${name}": Invalid argument`);
    if (m[1] === "all") k.sysctl.rpFilter = value;
    else if (m[1] === "default") k.sysctl.rpFilterDefault = value;
    else {
      const link = k.links.get(m[1]!);
      if (!link) throw noSuchKey(name);
      link.rpFilter = value;
    }
    return;
  }
  throw noSuchKey(name);
}

/** The reverse-path filter mode for packets received on `dev`: the kernel uses max(all, dev). */
export function rpFilterMode(k: Kernel, dev: string): number {
  return Math.max(k.sysctl.rpFilter, k.links.get(dev)?.rpFilter ?? 0);
}

/**
 * fib_validate_source's verdict on a received packet's source: with rp_filter off, accepted; otherwise the
 * route back to the source must be a unicast route (a local, blackhole or missing one fails), and in strict
 * mode (1) one of its nexthops must leave through the interface the packet came in on. Loose mode (2) accepts
 * any unicast route back.
 */
export function rpFilterAccepts(k: Kernel, dev: string, src: number): boolean {
  const mode = rpFilterMode(k, dev);
  if (mode === 0) return true;
  if (k.isLocal(src)) return false;
  const route = k.routeLookup(src, 0);
  if (route?.type !== "unicast") return false;
  if (mode === 2) return true;
  for (const n of route.nexthops) if (n.dev === dev) return true;
  return false;
}
