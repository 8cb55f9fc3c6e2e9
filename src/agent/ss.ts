import type { Kernel } from "../dataplane/sim/index.ts";
import type { CommandResult } from "./sim-commands.ts";

/** ss's columns (iproute2 misc/ss.c): alignment and the delimiter printed before each one. */
const COLUMNS: { header: string; right: boolean; ldelim: string }[] = [
  { header: "Netid", right: false, ldelim: "" },
  { header: "State", right: false, ldelim: " " },
  { header: "Recv-Q", right: false, ldelim: " " },
  { header: "Send-Q", right: false, ldelim: " " },
  { header: "Local Address:", right: true, ldelim: " " },
  { header: "Port", right: false, ldelim: "" },
  { header: "Peer Address:", right: true, ldelim: " " },
  { header: "Port", right: false, ldelim: "" },
  { header: "Process", right: false, ldelim: "" },
];

/**
 * The listen backlog ss shows as a listener's Send-Q. The sim does not model backlogs; this is the kernel's
 * default somaxconn (5.4+), which caps what Go servers (etcd, CoreDNS) ask for.
 */
const BACKLOG = 4096;

const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/**
 * `ss [-t] [-u] [-a|-l] -n`: the namespace's sockets. The sim keeps listening sockets only (connections are
 * exchanged within one command), so -a shows the listeners and UDP sockets, and without -a/-l there is nothing.
 */
export function ss(k: Kernel, args: string[]): CommandResult {
  let tcp = false;
  let udp = false;
  let all = false;
  let listening = false;
  let numeric = false;
  for (const a of args) {
    const long: Record<string, string> = {
      "--tcp": "t",
      "--udp": "u",
      "--all": "a",
      "--listening": "l",
      "--numeric": "n",
    };
    const letters = long[a] ?? (/^-[a-zA-Z]+$/.test(a) ? a.slice(1) : undefined);
    if (letters === undefined) return fail(`not supported yet: ss ${a} on the sim dataplane\n`);
    for (const c of letters) {
      if (c === "t") tcp = true;
      else if (c === "u") udp = true;
      else if (c === "a") all = true;
      else if (c === "l") listening = true;
      else if (c === "n") numeric = true;
      else return fail(`not supported yet: ss -${c} on the sim dataplane\n`);
    }
  }
  if (!numeric)
    return fail("not supported yet: ss without -n on the sim dataplane (service names); use ss -tan\n");
  if (!tcp && !udp) return fail("not supported yet: ss without -t or -u on the sim dataplane\n");
  const rows: string[][] = [];
  // ss dumps UDP sockets before TCP ones.
  for (const proto of ["udp", "tcp"] as const) {
    if ((proto === "tcp" && !tcp) || (proto === "udp" && !udp)) continue;
    // Listening TCP sockets and unconnected UDP ones show with -a or -l only.
    if (!all && !listening) continue;
    const ports = [...k.sockets.values()]
      .filter((s) => s.protocol === proto)
      .map((s) => s.port)
      .sort((a, b) => a - b);
    for (const port of ports)
      rows.push([
        proto,
        proto === "tcp" ? "LISTEN" : "UNCONN",
        "0".padEnd(6),
        String(proto === "tcp" ? BACKLOG : 0).padEnd(6),
        "0.0.0.0:",
        String(port),
        "0.0.0.0:",
        "*",
        "",
      ]);
  }
  const withNetid = tcp && udp;
  return { stdout: render(rows, withNetid), stderr: "", code: 0 };
}

/** ss's renderer when stdout is not a terminal: each column as wide as its widest cell, no spreading. */
function render(rows: string[][], withNetid: boolean): string {
  const cols = COLUMNS.map((c, i) => ({ ...c, i })).filter((c) => withNetid || c.i !== 0);
  const lines = [cols.map((c) => c.header), ...rows.map((r) => cols.map((c) => r[c.i]!))];
  const widths = cols.map((c, j) => {
    const max = Math.max(...lines.map((l) => l[j]!.length));
    return j > 0 && max > 0 ? max + c.ldelim.length : max;
  });
  return lines
    .map((cells) => {
      let line = "";
      cells.forEach((cell, j) => {
        const c = cols[j]!;
        const delim = j > 0 ? c.ldelim : "";
        const width = widths[j]!;
        if (c.right) line += delim + " ".repeat(Math.max(0, width - cell.length - delim.length)) + cell;
        else line += (delim + cell).padEnd(width);
      });
      return `${line}\n`;
    })
    .join("");
}
