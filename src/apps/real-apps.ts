/**
 * Which listeners a real app process serves, by the image it stands for — the same choice the sim makes
 * (SimCluster.startApps and the host services), with each TCP listener's framing for the real byte stream.
 */

import { appsForImage } from "./app-images.ts";
import type { DnsZone } from "./dns.ts";
import { dnsServer } from "./dns.ts";
import { hostServices } from "./host-services.ts";
import type { RealListener } from "./serve-real.ts";

export const HOST_SERVICES_IMAGE = "tortie/host-services";
const ROLES = ["control-plane", "worker", "external"] as const;
export type HostRole = (typeof ROLES)[number];

export type RealAppChoice = { ok: true; listeners: RealListener[] } | { ok: false; error: string };

/** The host-services image's role: `tortie/host-services:<role>`, or `--role` (which wins when both are given). */
function hostRole(image: string, role: string | undefined): HostRole | string | undefined {
  const tag = image.slice(HOST_SERVICES_IMAGE.length + 1);
  return role ?? (tag === "" ? undefined : tag);
}

export function isHostServicesImage(image: string): boolean {
  return image === HOST_SERVICES_IMAGE || image.startsWith(`${HOST_SERVICES_IMAGE}:`);
}

/**
 * The listeners for `image`: an app image (YAO Bank, nginx), an image containing `coredns` (the cluster DNS on
 * UDP and TCP 53 from `zone`), or `tortie/host-services[:ROLE]` (sshd, the API server, the kubelet).
 */
/** Whether an image stands for an app tortie runs (the others, like a plain busybox, run nothing, as on the sim). */
export function imageHasApp(image: string): boolean {
  return isHostServicesImage(image) || image.includes("coredns") || appsForImage(image) !== undefined;
}

export function realListenersForImage(
  image: string,
  options: { role?: string; zone?: () => DnsZone } = {},
): RealAppChoice {
  if (isHostServicesImage(image)) {
    const role = hostRole(image, options.role);
    if (role === undefined)
      return { ok: false, error: `${HOST_SERVICES_IMAGE} needs a role: ${ROLES.join(", ")}` };
    if (!(ROLES as readonly string[]).includes(role))
      return { ok: false, error: `unknown host role ${JSON.stringify(role)}: expected ${ROLES.join(", ")}` };
    const listeners = hostServices(role as HostRole).map(
      (listener): RealListener => ({ listener, framing: listener.port === 22 ? "greeting" : "http" }),
    );
    return { ok: true, listeners };
  }
  if (image.includes("coredns")) {
    const zone = options.zone;
    if (!zone) return { ok: false, error: "the cluster DNS server needs its zone file (--zone FILE)" };
    const listeners = dnsServer(zone).map((listener): RealListener => ({ listener, framing: "dns-tcp" }));
    return { ok: true, listeners };
  }
  const apps = appsForImage(image);
  if (!apps) return { ok: false, error: `not supported yet: an app for image ${JSON.stringify(image)}` };
  return { ok: true, listeners: apps.map((listener) => ({ listener, framing: "http" })) };
}
