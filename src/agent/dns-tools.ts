import {
  DNS_TYPES,
  DnsFormatError,
  type DnsMessage,
  type DnsResource,
  decodeDnsMessage,
  dnsQueryMessage,
  encodeDnsMessage,
  RCODE,
  rcodeName,
  typeName,
} from "../apps/index.ts";
import { formatIpv4, type Kernel, parseIpv4, tcpExchange } from "../dataplane/sim/index.ts";
import { candidateNames, queryServer, type ResolverConfig } from "./resolver.ts";
import type { SimCluster } from "./sim-cluster.ts";
import type { CommandResult } from "./sim-commands.ts";

/** The dig that prints these formats: Debian 12's bind9-dnsutils, checked against it. */
const DIG_VERSION = "9.18.49-1~deb12u3-Debian";

function typeByName(name: string): number | undefined {
  return (DNS_TYPES as Record<string, number>)[name.toUpperCase()];
}

function reverseName(ip: string): string | undefined {
  return parseIpv4(ip) === undefined ? undefined : `${ip.split(".").reverse().join(".")}.in-addr.arpa.`;
}

/** Why bind9's tools refuse a port number (isc_parse_uint16), or undefined for a good one. */
function badPort(text: string): string | undefined {
  if (!/^\d+$/.test(text)) return "not a valid number";
  return Number(text) > 65535 ? "out of range" : undefined;
}

function undot(name: string): string {
  return name === "." ? name : name.replace(/\.$/, "");
}

/**
 * `nslookup NAME [SERVER]` as bind9's nslookup prints it: an A and an AAAA query through the resolv.conf
 * search list (with `;; Got recursion not available` for each answer without RA while searching, as
 * CoreDNS's answers are), then `Name:`/`Address:` lines, or `** server can't find …`.
 */
export function nslookup(cluster: SimCluster, k: Kernel, args: string[]): CommandResult {
  let type: number | undefined;
  let port = 53;
  // nslookup reports a bad port on stdout and keeps the one it had.
  let portWarning = "";
  const words: string[] = [];
  for (const a of args) {
    const opt = /^-(type|query|q|port)=(.+)$/.exec(a);
    if (opt) {
      const bad = opt[1] === "port" ? badPort(opt[2]!) : undefined;
      if (bad) portWarning += `invalid port '${opt[2]}': ${bad}\n`;
      else if (opt[1] === "port") port = Number(opt[2]);
      else type = typeByName(opt[2]!);
      if (opt[1] !== "port" && type === undefined)
        return { stdout: "", stderr: `unknown query type: ${opt[2]}\n`, code: 1 };
    } else if (a.startsWith("-")) return unsupported(`nslookup ${a}`);
    else words.push(a);
  }
  const [name, serverArg] = words;
  if (!name || words.length > 2) return unsupported("interactive nslookup");
  const conf = cluster.resolverConfig(k);
  const server = serverArg === undefined ? conf.nameserver : parseIpv4(serverArg);
  if (server === undefined) return unsupported(`nslookup with a server named ${serverArg}`);
  const serverText = formatIpv4(server);
  const header = `Server:\t\t${serverText}\nAddress:\t${serverText}#${port}\n\n`;
  const out: string[] = portWarning ? [portWarning] : [];
  const ptr = type === undefined ? reverseName(name) : undefined;
  const searching = !ptr && !name.endsWith(".") && conf.search.length > 0;
  const candidates = ptr
    ? [ptr]
    : searching
      ? candidateNames(name, conf)
      : [name.endsWith(".") ? name : `${name}.`];
  const types = ptr ? [DNS_TYPES.PTR] : type !== undefined ? [type] : [DNS_TYPES.A, DNS_TYPES.AAAA];
  let failure: string | undefined;
  for (const candidate of candidates) {
    const r = queryServer(cluster.net, k, server, candidate, types[0]!, port);
    if (!r.ok) {
      out.push(`;; connection timed out; no servers could be reached\n\n`);
      return { stdout: out.join(""), stderr: "", code: 1 };
    }
    const m = r.message;
    if (m.rcode === RCODE.SERVFAIL) out.push(`;; Got SERVFAIL reply from ${serverText}\n`);
    else if (searching && !m.recursionAvailable)
      out.push(`;; Got recursion not available from ${serverText}\n`);
    if (m.rcode === RCODE.NXDOMAIN || m.rcode === RCODE.SERVFAIL) {
      failure = rcodeName(m.rcode);
      if (m.rcode === RCODE.SERVFAIL) break;
      continue;
    }
    if (!ptr) out.push(header);
    out.push(answerLines(m.answers));
    for (const more of types.slice(1)) {
      const r2 = queryServer(cluster.net, k, server, candidate, more, port);
      if (r2.ok) {
        if (searching && !r2.message.recursionAvailable)
          out.push(`;; Got recursion not available from ${serverText}\n`);
        out.push(answerLines(r2.message.answers));
      }
    }
    out.push("\n");
    return { stdout: out.join(""), stderr: "", code: 0 };
  }
  out.push(header, `** server can't find ${name}: ${failure ?? "NXDOMAIN"}\n\n`);
  return { stdout: out.join(""), stderr: "", code: 1 };
}

function answerLines(answers: DnsResource[]): string {
  return answers
    .map((a) => {
      switch (a.type) {
        case DNS_TYPES.A:
        case DNS_TYPES.AAAA:
          return `Name:\t${undot(a.name)}\nAddress: ${a.data}\n`;
        case DNS_TYPES.CNAME:
          return `${undot(a.name)}\tcanonical name = ${a.data}\n`;
        case DNS_TYPES.PTR:
          return `${undot(a.name)}\tname = ${a.data}\n`;
        case DNS_TYPES.SRV:
          return `${undot(a.name)}\tservice = ${a.data}\n`;
        default:
          return `${undot(a.name)}\trdata_${a.type} = ${a.data}\n`;
      }
    })
    .join("");
}

function unsupported(what: string): CommandResult {
  return { stdout: "", stderr: `not supported yet: ${what} on the sim dataplane\n`, code: 1 };
}

function recordLine(r: DnsResource): string {
  return tabbed([r.name, String(r.ttl), "IN", digTypeName(r.type), r.data], [24, 32, 40, 48]);
}

/**
 * Fields at dig's columns, as bind9's master-file dump indents them (lib/dns/masterdump.c `indent()`): up to
 * the column with tabs of width 8; a field that reaches or passes its column is followed by one position,
 * which is a tab when that position is a tab stop and a space otherwise.
 */
function tabbed(fields: string[], columns: number[]): string {
  let text = "";
  let col = 0;
  fields.forEach((f, i) => {
    text += f;
    col += f.length;
    if (i === fields.length - 1) return;
    const to = Math.max(columns[i]!, col + 1);
    const tabs = Math.floor(to / 8) - Math.floor(col / 8);
    text += "\t".repeat(tabs) + " ".repeat(to - (tabs > 0 ? Math.floor(to / 8) * 8 : col));
    col = to;
  });
  return text;
}

function flagsText(m: DnsMessage): string {
  const f: string[] = [];
  if (m.response) f.push("qr");
  if (m.authoritative) f.push("aa");
  if (m.truncated) f.push("tc");
  if (m.recursionDesired) f.push("rd");
  if (m.recursionAvailable) f.push("ra");
  return f.join(" ");
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function whenText(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/**
 * The query types dig takes by name: those the sim's messages carry, and MX, TXT and the query-only ANY, which
 * the sim's zone never holds (its server answers them NODATA, as CoreDNS's kubernetes plugin does).
 */
const DIG_TYPES: Record<string, number> = { ...DNS_TYPES, MX: 15, TXT: 16, ANY: 255 };

function digTypeByName(name: string): number | undefined {
  return DIG_TYPES[name.toUpperCase()];
}

function digTypeName(type: number): string {
  for (const [name, value] of Object.entries(DIG_TYPES)) if (value === type) return name;
  return typeName(type);
}

/** dig's TCP timeout (dighost.c TCP_TIMEOUT) and tries (+tries=3): a dropped SYN costs 3 × 10 s. */
const TCP_TIMEOUT_MS = 10_000;
const TCP_TRIES = 3;

const CONNECT_ERROR_TEXT: Record<string, string> = {
  refused: "connection refused",
  timeout: "timed out",
  "host-unreachable": "host unreachable",
  "network-unreachable": "network unreachable",
};

type TcpQueryOutcome =
  | { ok: true; message: DnsMessage; elapsedMs: number }
  | { ok: false; error: string; elapsedMs: number };

/** One query over TCP through the emulated network: RFC 1035 §4.2.2's two-byte length prefix, then the message. */
function queryOverTcp(
  cluster: SimCluster,
  k: Kernel,
  server: number,
  name: string,
  type: number,
  port: number,
): TcpQueryOutcome {
  const net = cluster.net;
  const id = Math.floor(net.random() * 65536);
  const body = encodeDnsMessage(dnsQueryMessage(id, name, type));
  const framed = String.fromCharCode(body.length >>> 8, body.length & 255) + body;
  const r = tcpExchange(net, k, server, port, framed, { connectTimeoutMs: TCP_TIMEOUT_MS });
  if (!r.ok) return { ok: false, error: CONNECT_ERROR_TEXT[r.error] ?? r.error, elapsedMs: r.elapsedMs };
  try {
    const message = decodeDnsMessage(r.response.slice(2));
    if (message.id === id) return { ok: true, message, elapsedMs: r.elapsedMs };
  } catch (e) {
    if (!(e instanceof DnsFormatError)) throw e;
  }
  // The server closed without a usable answer: dig reports the connection as reset.
  return { ok: false, error: "connection reset", elapsedMs: r.elapsedMs };
}

/**
 * `dig [@SERVER] [-p PORT] [-t TYPE] [-x ADDR] [NAME] [TYPE] [IN] [+short] [+search] [+tcp] [+noedns]` in dig
 * 9.18's format, without EDNS (so `+noedns` changes nothing). As dig parses them, a type or class keyword in any
 * position is the query's type or class until `-t` is given; no name asks for the root's NS; ANY goes over TCP.
 */
export function dig(cluster: SimCluster, k: Kernel, args: string[], now: Date): CommandResult {
  let server: number | undefined;
  let serverGiven = false;
  let port = 53;
  let type: number | undefined;
  let name: string | undefined;
  let short = false;
  let search = false;
  let tcp: boolean | undefined;
  let keywordsOpen = true;
  let warnings = "";
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("@")) {
      server = parseIpv4(a.slice(1));
      serverGiven = true;
      if (server === undefined) return unsupported(`dig with a server named ${a.slice(1)}`);
    } else if (a === "-p") {
      const text = args[++i] ?? "";
      const bad = badPort(text);
      if (bad)
        return {
          stdout: `invalid port number '${text}': ${bad}\n`,
          stderr: "dig: Couldn't parse port number\n",
          code: 1,
        };
      port = Number(text);
    } else if (a === "-t") {
      keywordsOpen = false;
      type = digTypeByName(args[++i] ?? "");
      if (type === undefined) return { stdout: "", stderr: `dig: invalid type: ${args[i]}\n`, code: 1 };
    } else if (a === "-x") {
      name = reverseName(args[++i] ?? "");
      type = DNS_TYPES.PTR;
      if (!name) return { stdout: "", stderr: `dig: '${args[i]}' is not a valid IP address\n`, code: 10 };
    } else if (a === "+short") short = true;
    else if (a === "+search") search = true;
    else if (a === "+nosearch") search = false;
    else if (a === "+tcp" || a === "+vc") tcp = true;
    else if (a === "+notcp" || a === "+novc") tcp = false;
    else if (a === "+noedns") continue;
    else if (a.startsWith("+") || a.startsWith("-")) return unsupported(`dig ${a}`);
    else if (keywordsOpen && digTypeByName(a) !== undefined) {
      if (type !== undefined) warnings += ";; Warning, extra type option\n";
      type = digTypeByName(a);
    } else if (keywordsOpen && a.toUpperCase() === "IN") continue;
    else if (keywordsOpen && /^(CH|CHAOS|HS|HESIOD|NONE)$/i.test(a)) return unsupported(`dig class ${a}`);
    else name = a;
  }
  if (name === undefined) {
    name = ".";
    type = DNS_TYPES.NS;
  }
  type ??= DNS_TYPES.A;
  const overTcp = tcp ?? type === DIG_TYPES.ANY;
  const conf: ResolverConfig = cluster.resolverConfig(k);
  const target = server ?? conf.nameserver;
  const where = `${formatIpv4(target)}#${port}`;
  const candidates = search ? candidateNames(name, conf) : [name.endsWith(".") ? name : `${name}.`];
  let message: DnsMessage | undefined;
  let elapsed = 0;
  for (const candidate of candidates) {
    if (overTcp) {
      let r: TcpQueryOutcome | undefined;
      let failures = "";
      for (let attempt = 0; attempt < TCP_TRIES && !r?.ok; attempt++) {
        r = queryOverTcp(cluster, k, target, candidate, type, port);
        if (!r.ok)
          failures += `;; Connection to ${where}(${formatIpv4(target)}) for ${name} failed: ${r.error}.\n;; no servers could be reached\n`;
      }
      if (!r?.ok) return { stdout: failures, stderr: warnings, code: 9 };
      message = r.message;
      elapsed = r.elapsedMs;
    } else {
      const r = queryServer(cluster.net, k, target, candidate, type, port);
      if (!r.ok) {
        const text = `;; communications error to ${where}: timed out\n`;
        return { stdout: short ? text.repeat(3) : text, stderr: warnings, code: 9 };
      }
      message = r.message;
      elapsed = r.elapsedMs;
    }
    if (message.rcode !== RCODE.NXDOMAIN) break;
  }
  const m = message!;
  if (short) return { stdout: m.answers.map((a) => `${a.data}\n`).join(""), stderr: warnings, code: 0 };
  const lines: string[] = ["", `; <<>> DiG ${DIG_VERSION} <<>> ${args.join(" ")}`];
  if (serverGiven) lines.push("; (1 server found)");
  lines.push(";; global options: +cmd", ";; Got answer:");
  const qname = m.questions[0]?.name ?? name;
  if (/(^|\.)local\.$/.test(qname))
    lines.push(
      ";; WARNING: .local is reserved for Multicast DNS",
      ";; You are currently testing what happens when an mDNS query is leaked to DNS",
    );
  lines.push(
    `;; ->>HEADER<<- opcode: QUERY, status: ${rcodeName(m.rcode)}, id: ${m.id}`,
    `;; flags: ${flagsText(m)}; QUERY: ${m.questions.length}, ANSWER: ${m.answers.length}, AUTHORITY: ${m.authority.length}, ADDITIONAL: ${m.additional.length}`,
  );
  if (m.recursionDesired && !m.recursionAvailable)
    lines.push(";; WARNING: recursion requested but not available");
  lines.push("", ";; QUESTION SECTION:");
  // The ";" before a question is outside dig's column count: the name starts at column 0.
  for (const q of m.questions) lines.push(`;${tabbed([q.name, "IN", digTypeName(q.type)], [32, 40])}`);
  for (const [title, section] of [
    ["ANSWER", m.answers],
    ["AUTHORITY", m.authority],
    ["ADDITIONAL", m.additional],
  ] as const)
    if (section.length) lines.push("", `;; ${title} SECTION:`, ...section.map(recordLine));
  // The size of the message itself: over TCP, without its length prefix.
  const size = Buffer.byteLength(encodeDnsMessage(m), "latin1");
  lines.push(
    "",
    `;; Query time: ${elapsed} msec`,
    `;; SERVER: ${where}(${formatIpv4(target)}) (${overTcp ? "TCP" : "UDP"})`,
    `;; WHEN: ${whenText(now)}`,
    `;; MSG SIZE  rcvd: ${size}`,
    "",
    "",
  );
  return { stdout: lines.join("\n"), stderr: warnings, code: 0 };
}
