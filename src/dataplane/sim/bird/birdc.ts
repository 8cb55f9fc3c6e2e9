/**
 * birdc's text, as BIRD 2.0.7 (nest/proto.c proto_cmd_show, nest/rt-show.c) and Calico's BIRD 1.6.8 print it:
 * `show protocols [all] [NAME]`, `show route [all] [for ADDR] [protocol P] [export P] [count]`,
 * `show status`. Times: within 20 hours `%T.%3f` (2.0) / `%T` (1.6), else `%F`, in UTC.
 */
import { formatIpv4, parseIpv4, parseIpv4Prefix, prefixContains } from "../ipv4.ts";
import { IGP_METRIC_UNKNOWN } from "./exchange.ts";
import type { BgpFabric, ProtocolStatus, Speaker } from "./fabric.ts";
import { prefixKey, type Rte } from "./rib.ts";
import type { BgpEnd } from "./session.ts";

const TWENTY_HOURS = 20 * 3600 * 1000;

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function timeText(fabric: BgpFabric, ms: number, bird2: boolean): string {
  const d = fabric.dateOf(ms);
  if (fabric.net.now - ms >= TWENTY_HOURS)
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  const t = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return bird2 ? `${t}.${String(d.getUTCMilliseconds()).padStart(3, "0")}` : t;
}

function longTime(fabric: BgpFabric, ms: number, bird2: boolean): string {
  const d = fabric.dateOf(ms);
  const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  const t = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return bird2 ? `${date} ${t}.${String(d.getUTCMilliseconds()).padStart(3, "0")}` : `${date} ${t}`;
}

function protocolLine(fabric: BgpFabric, p: ProtocolStatus, bird2: boolean): string {
  const since = timeText(fabric, p.since, bird2);
  return bird2
    ? `${p.name.padEnd(10)} ${p.proto.padEnd(10)} ${p.table.padEnd(10)} ${p.state.padEnd(6)} ${since.padEnd(12)}  ${p.info}`
    : `${p.name.padEnd(8)} ${p.proto.padEnd(8)} ${p.table.padEnd(8)} ${p.state.padEnd(5)}  ${since.padEnd(10)}  ${p.info}`;
}

function showProtocols(fabric: BgpFabric, s: Speaker, args: string[]): string[] {
  const bird2 = s.config.dialect === "bird2";
  const all = args[0] === "all";
  const name = all ? args[1] : args[0];
  let list = fabric.protocols(s.host);
  if (name !== undefined) {
    list = list.filter((p) => p.name === name);
    if (list.length === 0)
      throw new BirdcError(
        "syntax error, unexpected CF_SYM_UNDEFINED, expecting END or CF_SYM_KNOWN or TEXT or ALL",
      );
  }
  const out = [
    bird2
      ? `${"Name".padEnd(10)} ${"Proto".padEnd(10)} ${"Table".padEnd(10)} ${"State".padEnd(6)} ${"Since".padEnd(12)}  Info`
      : "name     proto    table    state  since       info",
  ];
  for (const p of list) {
    out.push(protocolLine(fabric, p, bird2));
    if (all) out.push(...protocolDetails(fabric, s, p), "");
  }
  return out;
}

const PREFERENCE = { kernel: 10, device: 240, direct: 240, static: 200, bgp: 100 } as const;

/**
 * `show protocols all`'s detail lines (proto_show_basic_info / channel_show_info and bgp_show_proto_info).
 * Not modelled: the "Route change stats" counters (they count history the sim does not keep) and BIRD 2's
 * capability lists; keepalives are taken to arrive every keepalive time since the session came up.
 */
function protocolDetails(fabric: BgpFabric, s: Speaker, st: ProtocolStatus): string[] {
  const p = s.config.protocols.find((x) => x.name === st.name)!;
  const bird2 = s.config.dialect === "bird2";
  const out: string[] = [];
  if (p.description) out.push(`  Description:    ${p.description}`);
  let imported = 0;
  let preferred = 0;
  for (const l of s.table.nets.values()) {
    for (const r of l) if (r.proto === p.name) imported++;
    if (l[0]?.proto === p.name) preferred++;
  }
  let exported = 0;
  if (p.kind === "bgp" || p.kind === "kernel")
    exported =
      p.kind === "kernel"
        ? s.kernel.main.routes.filter((r) => r.proto === "bird").length
        : fabric.exports(s.host, p.name).filter((v) => v.decision.accepted).length;
  const filterName = (f: { name?: string }) =>
    f.name === "all" ? "ACCEPT" : f.name === "none" ? "REJECT" : (f.name ?? "(unnamed)");
  const basic = (indent: string) => [
    `${indent}Preference:     ${PREFERENCE[p.kind]}`,
    `${indent}Input filter:   ${filterName(p.import)}`,
    `${indent}Output filter:  ${filterName(p.export)}`,
    ...(st.state === "up" || !bird2
      ? [`${indent}Routes:         ${imported} imported, ${exported} exported, ${preferred} preferred`]
      : []),
  ];
  const channel =
    bird2 && p.kind !== "device"
      ? [
          "  Channel ipv4",
          `    State:          ${st.state === "up" ? "UP" : "DOWN"}`,
          `    Table:          ${p.table}`,
          ...basic("    "),
        ]
      : [];
  if (!bird2) out.push(...basic("  "));
  if (p.kind === "bgp") {
    const e = s.endByName.get(p.name)!;
    out.push(`  BGP state:          ${st.bgpState}`);
    out.push(`    Neighbor address: ${formatIpv4(p.neighbor.ip)}`, `    Neighbor AS:      ${p.neighbor.as}`);
    if (bird2) out.push(`    Local AS:         ${p.localAs}`);
    if (st.state === "up" && e.peer) {
      const ibgp = p.localAs === p.neighbor.as;
      const multihop = p.multihop !== undefined || ibgp;
      const addPath = (x: BgpEnd["proto"]["addPaths"]) =>
        `${x === true || x === "rx" ? " add-path-rx" : ""}${x === true || x === "tx" ? " add-path-tx" : ""}`;
      out.push(`    Neighbor ID:      ${formatIpv4(e.peer.routerId)}`);
      if (!bird2)
        out.push(
          `    Neighbor caps:    refresh enhanced-refresh${e.peer.proto.gracefulRestart !== undefined ? " restart-able" : " restart-aware"} AS4${addPath(e.peer.proto.addPaths)}`,
        );
      out.push(
        `    Session:          ${ibgp ? "internal" : "external"}${multihop ? " multihop" : ""}${p.rrClient ? " route-reflector" : ""} AS4${bird2 ? "" : addPath(p.addPaths)}`,
      );
      if (e.localIp !== undefined) out.push(`    Source address:   ${formatIpv4(e.localIp)}`);
      const hold = Math.min(p.holdTime, e.peer.proto.holdTime);
      const keepalive = p.keepaliveTime;
      const elapsed = Math.max(0, fabric.net.now - st.since) / 1000;
      const sinceKeepalive = keepalive > 0 ? elapsed % keepalive : 0;
      const t = (v: number) => (bird2 ? v.toFixed(3) : String(Math.floor(v)));
      out.push(`    Hold timer:       ${t(hold - sinceKeepalive)}/${hold}`);
      out.push(`    Keepalive timer:  ${t(keepalive - sinceKeepalive)}/${keepalive}`);
    }
    if (st.lastError) out.push(`    Last error:       ${st.lastError}`);
  }
  out.push(...channel);
  return out;
}

function routeLines(
  fabric: BgpFabric,
  s: Speaker,
  net: string,
  r: Rte,
  primary: boolean,
  all: boolean,
): string[] {
  const bird2 = s.config.dialect === "bird2";
  const tm = timeText(fabric, r.at, bird2);
  const gw = r.nexthops[0]?.gw;
  const from = r.from !== undefined && r.from !== gw ? ` from ${formatIpv4(r.from)}` : "";
  let info = ` (${r.preference})`;
  if (r.source === "RTS_BGP") {
    // The IGP metric of a recursive next hop: BIRD 1.6 always (`-` when unresolvable, `?` when unknown: resolved
    // through a route with a gateway); BIRD 2 (2.0.12's bgp_get_route_info) only when it is not 0, so `/?`.
    const proto = s.config.protocols.find((p) => p.name === r.proto);
    const metric = r.igpMetric ?? 0;
    const shown = metric >= IGP_METRIC_UNKNOWN ? "/?" : `/${metric}`;
    const igp =
      proto?.kind === "bgp" && proto.gateway === "recursive"
        ? bird2
          ? metric !== 0
            ? shown
            : ""
          : r.dest === "unicast"
            ? shown
            : "/-"
        : "";
    const path = r.attrs.bgp_path ?? [];
    const last = path.length ? `AS${path[path.length - 1]}` : "";
    info = ` (${r.preference}${igp}) [${last}${"ie?"[r.attrs.bgp_origin ?? 0] ?? "?"}]`;
  }
  // The best route is marked `*`, or `!` when the kernel refused it (KRF_SYNC_ERROR: EEXIST).
  const mark = primary ? (s.syncErrors.has(prefixKey(r.net)) ? " !" : " *") : "";
  const head = bird2
    ? `${net.padEnd(20)} ${r.dest} [${r.proto} ${tm}${from}]${mark}${info}`
    : `${net.padEnd(18)} ${destText1(r)} [${r.proto} ${tm}${from}]${mark}${info}`;
  const out = [head];
  if (bird2 && r.dest === "unicast")
    for (const n of r.nexthops) {
      const w = r.nexthops.length > 1 ? ` weight ${n.weight}` : "";
      // 2.0.7's `\tdev %s%s%s` has no conversion for the weight, so a device nexthop prints none.
      out.push(n.gw !== undefined ? `\tvia ${formatIpv4(n.gw)} on ${n.iface}${w}` : `\tdev ${n.iface}`);
    }
  if (!bird2 && r.nexthops.length > 1)
    for (const n of r.nexthops) out.push(`\tvia ${formatIpv4(n.gw ?? 0)} on ${n.iface} weight ${n.weight}`);
  if (all) out.push(...attrLines(r, bird2));
  return out;
}

/** BIRD 1.6 prints the destination inline: `via GW on IFACE`, `dev IFACE`, `blackhole`, `unreachable`. */
function destText1(r: Rte): string {
  if (r.dest !== "unicast") return r.dest;
  if (r.nexthops.length > 1) return "multipath";
  const n = r.nexthops[0];
  if (!n) return "unreachable";
  return n.gw !== undefined ? `via ${formatIpv4(n.gw)} on ${n.iface}` : `dev ${n.iface}`;
}

/** rta_show: the route's type and its extended attributes in attribute-code order. */
function attrLines(r: Rte, bird2: boolean): string[] {
  const type = { RTS_STATIC: "static", RTS_INHERIT: "inherit", RTS_DEVICE: "device", RTS_BGP: "BGP" }[
    r.source
  ];
  const out = [bird2 ? `\tType: ${type} univ` : `\tType: ${type} unicast univ`];
  const a = r.attrs;
  if (r.source === "RTS_BGP") {
    out.push(`\tBGP.origin: ${["IGP", "EGP", "Incomplete"][a.bgp_origin ?? 0]}`);
    out.push(`\tBGP.as_path: ${(a.bgp_path ?? []).join(" ")}`);
    if (a.bgp_next_hop !== undefined) out.push(`\tBGP.next_hop: ${formatIpv4(a.bgp_next_hop)}`);
    if (a.bgp_med !== undefined) out.push(`\tBGP.med: ${a.bgp_med}`);
    if (a.bgp_local_pref !== undefined) out.push(`\tBGP.local_pref: ${a.bgp_local_pref}`);
    if (a.bgp_community?.length)
      out.push(`\tBGP.community: ${a.bgp_community.map(([x, y]) => `(${x},${y})`).join(" ")}`);
    if (a.bgp_originator_id !== undefined)
      out.push(`\tBGP.originator_id: ${formatIpv4(a.bgp_originator_id)}`);
    if (a.bgp_cluster_list?.length)
      out.push(`\tBGP.cluster_list: ${a.bgp_cluster_list.map(formatIpv4).join(" ")}`);
    if (a.bgp_large_community?.length)
      out.push(
        `\tBGP.large_community: ${a.bgp_large_community.map(([x, y, z]) => `(${x}, ${y}, ${z})`).join(" ")}`,
      );
  }
  if (a.krt_metric !== undefined) out.push(`\tKernel.metric: ${a.krt_metric}`);
  return out;
}

function showRoute(fabric: BgpFabric, s: Speaker, args: string[]): string[] {
  let all = false;
  let count = false;
  let forIp: number | undefined;
  let protocol: string | undefined;
  let exportTo: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "all") all = true;
    else if (a === "count") count = true;
    else if (a === "for") {
      const v = args[++i] ?? "";
      forIp = parseIpv4(v) ?? parseIpv4Prefix(v)?.addr;
      if (forIp === undefined)
        throw new BirdcError("syntax error, unexpected END, expecting IP4 or IP6 or VPN_RD or CF_SYM_KNOWN");
    } else if (a === "protocol" || a === "export") {
      const v = args[++i];
      if (!v || !s.config.protocols.some((p) => p.name === v))
        throw new BirdcError(`${v ?? ""}: no such protocol`.replace(/^: /, ""));
      if (a === "protocol") protocol = v;
      else exportTo = v;
    } else throw new BirdcError(`syntax error, unexpected CF_SYM_UNDEFINED`);
  }
  const bird2 = s.config.dialect === "bird2";
  let keys = s.table.walkOrder();
  if (forIp !== undefined) {
    // The longest matching prefix, as `show route for` answers.
    let best: number | undefined;
    let bestLen = -1;
    for (const k of keys) {
      const r = s.table.get(k)![0]!;
      if (prefixContains(r.net, forIp) && r.net.len > bestLen) {
        best = k;
        bestLen = r.net.len;
      }
    }
    keys = best === undefined ? [] : [best];
  }
  const out: string[] = [];
  let shown = 0;
  let routesTotal = 0;
  const verdicts = exportTo ? new Map(fabric.exports(s.host, exportTo).map((v) => [v.route, v])) : undefined;
  for (const k of keys) {
    const routes = s.table.get(k)!;
    routesTotal += routes.length;
    const net = `${formatIpv4(routes[0]!.net.addr)}/${routes[0]!.net.len}`;
    let first = true;
    for (const [i, r] of routes.entries()) {
      if (protocol && r.proto !== protocol) continue;
      if (verdicts) {
        const v = verdicts.get(r);
        if (!v?.decision.accepted) continue;
      }
      shown++;
      if (count) continue;
      const lines = routeLines(fabric, s, net, r, i === 0, all);
      if (!first) lines[0] = `${"".padEnd(bird2 ? 20 : 18)}${lines[0]!.slice(bird2 ? 20 : 18)}`;
      first = false;
      out.push(...lines);
    }
  }
  if (count) {
    const nets = keys.length;
    return [
      bird2
        ? `${shown} of ${routesTotal} routes for ${nets} networks in table ${s.table.name}`
        : `${shown} of ${routesTotal} routes for ${nets} networks`,
    ];
  }
  // rt-show.c: a `for` lookup that shows nothing answers 8001.
  if (forIp !== undefined && shown === 0) return ["Network not found"];
  if (bird2 && out.length) out.unshift(`Table ${s.table.name}:`);
  return out;
}

function showStatus(fabric: BgpFabric, s: Speaker, version: string): string[] {
  const bird2 = s.config.dialect === "bird2";
  const start = Math.min(fabric.net.now, ...fabric.protocols(s.host).map((p) => p.since));
  return [
    `BIRD ${version}`,
    `Router ID is ${formatIpv4(s.routerId)}`,
    `Current server time is ${longTime(fabric, fabric.net.now, bird2)}`,
    `Last reboot on ${longTime(fabric, start, bird2)}`,
    `Last reconfiguration on ${longTime(fabric, start, bird2)}`,
    "Daemon is up and running",
  ];
}

class BirdcError extends Error {}

/** Runs one birdc command line (already split into words) on a host's speaker. */
export function birdc(fabric: BgpFabric, host: string, args: string[]): { out: string; code: number } {
  const s = fabric.speaker(host);
  const banner = `BIRD ${s.spec.version} ready.`;
  const words = args.filter((a) => a !== "");
  try {
    let lines: string[];
    const [verb, what, ...rest] = words;
    if (verb === "show" && what !== undefined && /^protocols?$/.test(what))
      lines = showProtocols(fabric, s, rest);
    else if (verb === "show" && (what === "route" || what === "routes")) lines = showRoute(fabric, s, rest);
    else if (verb === "show" && what === "status") lines = showStatus(fabric, s, s.spec.version);
    else if (words.length === 0) return { out: `${banner}\n`, code: 0 };
    else return { out: `${banner}\nnot supported yet: birdc ${words.join(" ")}\n`, code: 1 };
    return { out: `${[banner, ...lines].join("\n")}\n`, code: 0 };
  } catch (e) {
    if (e instanceof BirdcError) return { out: `${banner}\n${e.message}\n`, code: 0 };
    throw e;
  }
}
