/**
 * BIRD's configuration: `parseBirdConfig(files, main, dialect)` reads the subset Calico's confd writes
 * (BIRD 1.6, `bird1`) or an external router's BIRD 2 uses (`bird2`: channels), resolves templates, names
 * unnamed protocols as BIRD does (kernel1, device1, …) and compiles every filter once. Anything else is
 * refused with a BirdConfigError naming file:line:col.
 */
import {
  constantFilter,
  parseDefine,
  parseFilterDefinition,
  parseFunction,
  parseImExport,
} from "./filter.ts";
import { isKeyword, type Scope } from "./filter-scope.ts";
import { type Token, TokenStream, tokenizeWithIncludes } from "./lexer.ts";
import { type Draft, finishProtocol, type ProtocolKind } from "./protocols.ts";
import type { BirdConfig, BirdDialect, StaticRoute } from "./types.ts";

const KINDS: ProtocolKind[] = ["kernel", "device", "direct", "static", "bgp"];
const UNSUPPORTED_KINDS = [
  "pipe",
  "ospf",
  "rip",
  "babel",
  "bfd",
  "radv",
  "rpki",
  "mrt",
  "perf",
  "l3vpn",
  "aggregator",
];

export function parseBirdConfig(
  files: Record<string, string>,
  main: string,
  dialect: BirdDialect,
): BirdConfig {
  const ts = new TokenStream(tokenizeWithIncludes(files, main), files);
  const sc: Scope = { dialect, ts, globals: new Map() };
  const config: BirdConfig = { dialect, file: main, protocols: [], filters: new Map() };
  const drafts = new Map<string, Draft>();
  const counters = new Map<string, number>();
  while (ts.peek().kind !== "eof") {
    const t = ts.next();
    if (t.kind !== "sym" || t.quoted) ts.unexpected(t);
    switch (t.text) {
      case "router": {
        ts.expect("id");
        const id = ts.next();
        if (id.kind !== "ip" && id.kind !== "num") ts.unexpected(id, "router id expected");
        config.routerId = id.value;
        ts.expect(";");
        break;
      }
      case "listen": {
        ts.expect("bgp");
        const listen: { address?: number; port?: number } = {};
        while (!ts.is(";")) {
          const o = ts.next();
          if (o.text === "address") listen.address = ipValue(sc);
          else if (o.text === "port") listen.port = portValue(sc);
          else if (o.text === "v6only" || o.text === "dual")
            ts.error(o, "IPv6 is not supported: the sim is IPv4-only");
          else ts.unexpected(o);
        }
        ts.expect(";");
        config.listen = listen;
        break;
      }
      case "filter": {
        const f = parseFilterDefinition(sc);
        config.filters.set(f.name as string, f);
        break;
      }
      case "function":
        parseFunction(sc);
        break;
      case "define":
        parseDefine(sc);
        break;
      case "template":
      case "protocol":
        parseProtocol(sc, t, config, drafts, counters);
        break;
      case "log":
      case "timeformat":
      case "mrtdump":
        skipStatement(sc); // logging and output formats only
        break;
      case "debug":
        if (!ts.is("protocols") && !ts.is("commands")) ts.unexpected(ts.peek());
        skipStatement(sc);
        break;
      case "table":
      case "ipv4":
        return ts.error(t, "not supported yet: routing tables other than the master table");
      case "ipv6":
        return ts.error(t, "IPv6 is not supported: the sim is IPv4-only");
      case "include":
        return ts.error(t, 'syntax error: include "file"; expected, on a line of its own');
      default:
        return ts.unexpected(t);
    }
  }
  return config;
}

function skipStatement(sc: Scope): void {
  while (!sc.ts.accept(";")) if (sc.ts.next().kind === "eof") sc.ts.unexpected(sc.ts.peek(), "';' expected");
}

function ipValue(sc: Scope): number {
  const t = sc.ts.next();
  if (t.kind !== "ip") sc.ts.unexpected(t, "IPv4 address expected");
  return t.value;
}

function numValue(sc: Scope): number {
  const t = sc.ts.next();
  if (t.kind !== "num") sc.ts.unexpected(t, "number expected");
  return t.value;
}

function portValue(sc: Scope): number {
  const t = sc.ts.peek();
  const n = numValue(sc);
  if (n < 1 || n > 65535) sc.ts.error(t, "Invalid port number");
  return n;
}

/** BIRD's `bool`: on/off/yes/no/a number, or nothing (on). */
function boolValue(sc: Scope): boolean {
  const ts: TokenStream = sc.ts;
  if (ts.accept("on") || ts.accept("yes")) return true;
  if (ts.accept("off") || ts.accept("no")) return false;
  if (ts.peek().kind === "num") return ts.next().value !== 0;
  if (ts.is(";")) return true;
  return ts.unexpected(ts.peek(), "on or off expected");
}

function newDraft(kind: ProtocolKind): Draft {
  return { kind, interfaces: [], routes: [] };
}

function copyDraft(d: Draft): Draft {
  const copy = Object.assign({}, d);
  copy.interfaces = [...d.interfaces];
  copy.routes = [...d.routes];
  return copy;
}

function parseProtocol(
  sc: Scope,
  start: Token,
  config: BirdConfig,
  drafts: Map<string, Draft>,
  counters: Map<string, number>,
): void {
  const ts: TokenStream = sc.ts;
  const isTemplate = start.text === "template";
  const kindTok = ts.next();
  const kind = kindTok.text as ProtocolKind;
  if (!KINDS.includes(kind)) {
    if (UNSUPPORTED_KINDS.includes(kindTok.text))
      ts.error(kindTok, `not supported yet: protocol ${kindTok.text}`);
    ts.unexpected(kindTok, "protocol type expected");
  }
  let name: string | undefined;
  const nameTok = ts.peek();
  if (nameTok.kind === "sym" && !ts.is("from") && !ts.is("{")) {
    ts.next();
    if (!nameTok.quoted && isKeyword(nameTok.text)) ts.unexpected(nameTok, "protocol name expected");
    if (sc.globals.has(nameTok.text)) ts.error(nameTok, `${nameTok.text}: this symbol already defined`);
    name = nameTok.text;
  }
  let draft = newDraft(kind);
  if (ts.accept("from")) {
    const src = ts.next();
    const base = drafts.get(src.text);
    if (!base) ts.error(src, "Template or protocol name expected");
    if (base.kind !== kind) ts.error(src, "Can't copy configuration from a different protocol type");
    draft = copyDraft(base);
  }
  if (name === undefined) {
    if (isTemplate) ts.error(nameTok, "template name expected");
    let n = counters.get(kind) ?? 0;
    do n++;
    while (sc.globals.has(`${kind}${n}`));
    counters.set(kind, n);
    name = `${kind}${n}`;
  }
  sc.globals.set(name, { kind: isTemplate ? "template" : "protocol" });
  ts.expect("{");
  while (!ts.accept("}")) parseItem(sc, draft);
  drafts.set(name, draft);
  if (isTemplate) return;
  const defaultFilter = (which: "import" | "export", filter: "all" | "none") =>
    constantFilter(sc, filter, start, `(default) ${which} ${filter}`);
  config.protocols.push(finishProtocol(sc, draft, name, start, defaultFilter));
}

/** One protocol item, up to and including its `;`. */
function parseItem(sc: Scope, d: Draft): void {
  const ts: TokenStream = sc.ts;
  const t = ts.next();
  if (t.kind !== "sym" || t.quoted) ts.unexpected(t);
  const bird1 = sc.dialect === "bird1";
  const end = () => ts.expect(";");
  switch (t.text) {
    case "description": {
      const s = ts.next();
      if (s.kind !== "str") ts.unexpected(s, "string expected");
      d.description = s.text;
      return void end();
    }
    case "debug":
    case "mrtdump":
      skipStatement(sc);
      return;
    case "disabled":
      if (boolValue(sc)) ts.error(t, "not supported yet: disabled protocols");
      return void end();
    case "import":
    case "export":
      if (!bird1) ts.error(t, "import and export belong in the ipv4 channel in BIRD 2 (ipv4 { … })");
      parseFilterClause(sc, d, t);
      return;
    case "table": {
      if (!bird1) ts.error(t, "table belongs in the ipv4 channel in BIRD 2");
      const tbl = ts.next();
      if (tbl.text !== "master")
        ts.error(tbl, "not supported yet: routing tables other than the master table");
      return void end();
    }
    case "ipv4":
      if (bird1) ts.unexpected(t);
      if (d.kind === "device") ts.error(t, "The device protocol supports no channel");
      d.channel = true;
      if (ts.accept("{")) {
        while (!ts.accept("}")) parseChannelItem(sc, d);
        ts.accept(";");
      } else end();
      return;
    case "ipv6":
    case "vpn4":
    case "vpn6":
    case "flow4":
    case "flow6":
    case "roa4":
    case "roa6":
      ts.error(t, "IPv6 and other channels are not supported: the sim is IPv4-only");
      break;
    case "preference":
    case "router":
    case "receive":
    case "vrf":
      ts.error(t, `not supported yet: ${t.text} in a protocol`);
      break;
  }
  switch (d.kind) {
    case "kernel":
      kernelItem(sc, d, t);
      return;
    case "device":
      if (t.text === "scan") {
        ts.expect("time");
        d.scanTime = numValue(sc);
        return void end();
      }
      break;
    case "direct":
      if (t.text === "interface") {
        do {
          const exclude = ts.accept("-");
          const p = ts.next();
          if (p.kind !== "str") ts.unexpected(p, "interface pattern expected");
          if (!ts.is(",") && !ts.is(";"))
            ts.error(ts.peek(), "not supported yet: interface patterns with addresses");
          d.interfaces.push({ pattern: p.text, exclude });
        } while (ts.accept(","));
        return void end();
      }
      break;
    case "static":
      if (t.text === "route") {
        staticRoute(sc, d);
        return;
      }
      break;
    case "bgp":
      if (bgpItem(sc, d, t)) return void end();
      break;
  }
  ts.error(t, `not supported yet: '${t.text}' in a ${d.kind} protocol`);
}

function parseFilterClause(sc: Scope, d: Draft, t: Token): void {
  const ts: TokenStream = sc.ts;
  if (ts.is("limit") || ts.is("keep") || ts.is("table"))
    ts.error(ts.peek(), `not supported yet: ${t.text} ${ts.peek().text}`);
  const f = parseImExport(sc);
  if (t.text === "import") d.import = f;
  else d.export = f;
  ts.expect(";");
}

/** An item inside BIRD 2's `ipv4 { … }`. */
function parseChannelItem(sc: Scope, d: Draft): void {
  const ts: TokenStream = sc.ts;
  const t = ts.next();
  if (t.text === "import" || t.text === "export") {
    parseFilterClause(sc, d, t);
    return;
  }
  if (t.text === "table") {
    const tbl = ts.next();
    if (tbl.text !== "master4") ts.error(tbl, "not supported yet: routing tables other than master4");
  } else if (d.kind === "bgp" && t.text === "add") {
    ts.expect("paths");
    d.addPaths = ts.accept("rx") ? "rx" : ts.accept("tx") ? "tx" : boolValue(sc);
  } else if (d.kind === "bgp" && t.text === "next") {
    ts.expect("hop");
    nextHop(sc, d);
  } else if (d.kind === "bgp" && t.text === "gateway") {
    d.gateway = gatewayMode(sc);
  } else ts.error(t, `not supported yet: '${t.text}' in an ipv4 channel`);
  ts.expect(";");
}

function gatewayMode(sc: Scope): "direct" | "recursive" {
  if (sc.ts.accept("direct")) return "direct";
  sc.ts.expect("recursive");
  return "recursive";
}

function nextHop(sc: Scope, d: Draft): void {
  const ts: TokenStream = sc.ts;
  if (ts.accept("self")) {
    const on = ts.is(";") ? true : boolValue(sc);
    d.nextHopSelf = on;
    if (on) d.nextHopKeep = false;
  } else if (ts.accept("keep")) {
    const on = ts.is(";") ? true : boolValue(sc);
    d.nextHopKeep = on;
    if (on) d.nextHopSelf = false;
  } else ts.error(ts.peek(), `not supported yet: next hop ${ts.peek().text}`);
}

function kernelItem(sc: Scope, d: Draft, t: Token): void {
  const ts: TokenStream = sc.ts;
  switch (t.text) {
    case "learn":
      d.learn = boolValue(sc);
      break;
    case "persist":
      d.persist = boolValue(sc);
      break;
    case "scan":
      ts.expect("time");
      d.scanTime = numValue(sc);
      break;
    case "device":
      ts.expect("routes");
      d.deviceRoutes = boolValue(sc);
      break;
    case "graceful":
      ts.expect("restart");
      d.kernelGracefulRestart = boolValue(sc);
      break;
    case "merge": {
      ts.expect("paths");
      const on = ts.is("limit") ? true : boolValue(sc);
      d.mergePaths = on;
      if (ts.accept("limit")) {
        const at = ts.peek();
        const n = numValue(sc);
        if (n <= 0 || n > 255) ts.error(at, "Merge paths limit must be in range 1-255");
        d.mergePathsLimit = n;
      }
      break;
    }
    case "kernel": {
      ts.expect("table");
      const at = ts.peek();
      if (numValue(sc) !== 254) ts.error(at, "not supported yet: kernel tables other than main (254)");
      break;
    }
    case "metric":
      if (sc.dialect !== "bird2") ts.error(t, `not supported yet: '${t.text}' in a kernel protocol`);
      d.kernelMetric = numValue(sc);
      break;
    default:
      ts.error(t, `not supported yet: '${t.text}' in a kernel protocol`);
  }
  ts.expect(";");
}

function staticRoute(sc: Scope, d: Draft): void {
  const ts: TokenStream = sc.ts;
  const pTok = ts.next();
  if (pTok.kind !== "ip") ts.unexpected(pTok, "prefix expected");
  ts.expect("/");
  const net = ts.prefix(pTok, numValue(sc));
  const how = ts.next();
  let route: StaticRoute;
  switch (how.text) {
    case "via": {
      const gw = ts.peek();
      if (gw.kind === "str") ts.error(gw, 'not supported yet: static device routes (via "iface")');
      route = { net, dest: "unicast", via: ipValue(sc) };
      if (ts.is("%")) ts.error(ts.peek(), "not supported yet: link-local scopes");
      break;
    }
    case "blackhole":
    case "drop":
      route = { net, dest: "blackhole" };
      break;
    case "unreachable":
    case "reject":
      route = { net, dest: "unreachable" };
      break;
    case "prohibit":
      route = { net, dest: "prohibit" };
      break;
    default:
      ts.error(how, `not supported yet: static route ${how.text}`);
  }
  if (!ts.is(";")) ts.error(ts.peek(), "not supported yet: static route options");
  ts.expect(";");
  d.routes.push(route);
}

/** A BGP protocol item (without its `;`); false when it is not one. */
function bgpItem(sc: Scope, d: Draft, t: Token): boolean {
  const ts: TokenStream = sc.ts;
  const bird1 = sc.dialect === "bird1";
  const seconds = (...words: string[]) => {
    for (const w of words) ts.expect(w);
    return numValue(sc);
  };
  switch (t.text) {
    case "local":
      if (ts.peek().kind === "ip") d.sourceAddress = ipValue(sc);
      ts.expect("as");
      d.localAs = numValue(sc);
      return true;
    case "neighbor": {
      if (ts.is("range")) ts.error(ts.peek(), "not supported yet: neighbor range");
      if (ts.peek().kind === "ip") {
        if (d.neighborIp !== undefined) ts.error(t, "Only one neighbor per BGP instance is allowed");
        d.neighborIp = ipValue(sc);
      }
      if (ts.is("%")) ts.error(ts.peek(), "not supported yet: link-local scopes");
      while (!ts.is(";")) {
        if (ts.accept("port")) d.neighborPort = portValue(sc);
        else if (ts.accept("as")) d.neighborAs = numValue(sc);
        else if (ts.is("internal") || ts.is("external"))
          ts.error(ts.peek(), `not supported yet: neighbor ${ts.peek().text}`);
        else ts.unexpected(ts.peek());
      }
      return true;
    }
    case "source":
      ts.expect("address");
      d.sourceAddress = ipValue(sc);
      return true;
    case "passive":
      d.passive = boolValue(sc);
      return true;
    case "multihop":
      if (ts.is(";")) d.multihop = true;
      else {
        const at = ts.peek();
        const n = numValue(sc);
        if (n < 1 || n > 255) ts.error(at, "Multihop must be in range 1-255");
        d.multihop = n;
      }
      return true;
    case "direct":
      d.multihop = "direct";
      return true;
    case "ttl":
      ts.expect("security");
      d.ttlSecurity = boolValue(sc);
      return true;
    case "rr":
      if (ts.accept("client")) d.rrClient = true;
      else {
        ts.expect("cluster");
        ts.expect("id");
        const id = ts.next();
        if (id.kind !== "ip" && id.kind !== "num") ts.unexpected(id, "cluster id expected");
        d.rrClusterId = id.value;
      }
      return true;
    case "password": {
      const s = ts.next();
      if (s.kind !== "str") ts.unexpected(s, "string expected");
      d.password = s.text;
      return true;
    }
    case "connect":
      if (ts.accept("delay")) d.connectDelayTime = seconds("time");
      else d.connectRetryTime = seconds("retry", "time");
      return true;
    case "hold":
      d.holdTime = seconds("time");
      return true;
    case "keepalive":
      d.keepaliveTime = seconds("time");
      return true;
    case "error": {
      ts.expect("wait");
      ts.expect("time");
      const min = numValue(sc);
      ts.expect(",");
      d.errorWaitTime = [min, numValue(sc)];
      return true;
    }
    case "graceful":
      ts.expect("restart");
      if (ts.accept("time")) d.grTime = numValue(sc);
      else if (ts.accept("aware")) d.grMode = "aware";
      else d.grMode = boolValue(sc) ? "on" : "off";
      return true;
    case "allow":
      ts.expect("local");
      ts.expect("as");
      d.allowLocalAs = ts.is(";") ? Number.POSITIVE_INFINITY : numValue(sc);
      return true;
    case "add":
      if (!bird1) ts.error(t, "add paths belongs in the ipv4 channel in BIRD 2");
      ts.expect("paths");
      d.addPaths = ts.accept("rx") ? "rx" : ts.accept("tx") ? "tx" : boolValue(sc);
      return true;
    case "next":
      if (!bird1) ts.error(t, "next hop belongs in the ipv4 channel in BIRD 2");
      ts.expect("hop");
      nextHop(sc, d);
      return true;
    case "gateway":
      if (!bird1) ts.error(t, "gateway belongs in the ipv4 channel in BIRD 2");
      d.gateway = gatewayMode(sc);
      return true;
    default:
      return false;
  }
}
