import { compileFilter, FilterError, type LinkFrame, TcpdumpPrinter } from "../dataplane/sim/index.ts";
import { TortieError } from "../lib/index.ts";
import { CaptureTail, registerCapture, unregisterCapture } from "./capture.ts";
import type { CliContext } from "./context.ts";
import { openLazySimCluster, simTarget } from "./exec.ts";

/**
 * `tcpdump` on the sim, as tcpdump 4.9 behaves (the seed labs' Ubuntu): it captures on one namespace's
 * interface (or `any`) and prints the packets that other tortie processes move through it, until SIGINT or
 * SIGTERM, or `-c N` packets; then the statistics go to stderr and it exits 0.
 */
interface TcpdumpOptions {
  iface?: string;
  count?: number;
  verbose: number;
  numeric: number;
  linkHeader: boolean;
  filter: string;
}

/** Options that take a value, as tcpdump's getopt string has them. */
const WITH_VALUE = new Set([
  "i",
  "c",
  "s",
  "w",
  "r",
  "C",
  "W",
  "F",
  "T",
  "y",
  "B",
  "E",
  "G",
  "M",
  "V",
  "z",
  "Z",
  "j",
  "Q",
]);
/** Options that change nothing in what the sim prints. */
const HARMLESS = new Set(["l", "U", "p", "q"]);

function parseTcpdumpArgs(args: string[]): TcpdumpOptions | { error: string } {
  const o: TcpdumpOptions = { verbose: 0, numeric: 0, linkHeader: false, filter: "" };
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      words.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split("=", 2);
      if (name === "interface") {
        const v = inline ?? args[++i];
        if (v === undefined) return { error: "tcpdump: option '--interface' requires an argument" };
        o.iface = v;
      } else return { error: `not supported yet: tcpdump ${a} on the sim dataplane` };
      continue;
    }
    if (!a.startsWith("-") || a === "-") {
      words.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (WITH_VALUE.has(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (v === undefined) return { error: `tcpdump: option requires an argument -- '${c}'` };
        if (c === "i") o.iface = v;
        else if (c === "c") {
          if (!/^\d+$/.test(v) || Number(v) <= 0) return { error: `tcpdump: invalid packet count ${v}` };
          o.count = Number(v);
        } else if (c !== "s") return { error: `not supported yet: tcpdump -${c} on the sim dataplane` };
        break;
      }
      if (c === "v") o.verbose++;
      else if (c === "e") o.linkHeader = true;
      else if (c === "n") o.numeric++;
      else if (HARMLESS.has(c)) continue;
      else if ("XxAaSKtD#LOPHhd".includes(c))
        return { error: `not supported yet: tcpdump -${c} on the sim dataplane` };
      else return { error: `tcpdump: invalid option -- '${c}'` };
    }
  }
  o.filter = words.join(" ");
  return o;
}

/** `sudo [options] tcpdump ARGS` or `tcpdump ARGS`: the tcpdump arguments, else undefined. */
export function tcpdumpInvocation(command: string[]): string[] | undefined {
  let i = 0;
  if (command[0] === "sudo") {
    i = 1;
    while (i < command.length && command[i]!.startsWith("-")) {
      if (command[i] === "--") {
        i++;
        break;
      }
      if (command[i] === "-u") i++;
      i++;
    }
  }
  return command[i] === "tcpdump" ? command.slice(i + 1) : undefined;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

export async function runTcpdump(ctx: CliContext, target: string, args: string[]): Promise<number> {
  const o = parseTcpdumpArgs(args);
  if ("error" in o) {
    ctx.err(`${o.error}\n`);
    return 1;
  }
  if (ctx.stateDir === undefined)
    throw new TortieError("Unsupported", "not supported yet: tcpdump without a state directory");
  const cluster = await openLazySimCluster(ctx);
  const k = simTarget(cluster, target);
  const iface = o.iface ?? [...k.links.values()].find((l) => l.kind !== "loopback")?.name ?? "lo";
  const link = iface === "any" ? undefined : k.links.get(iface);
  if (iface !== "any" && !link) {
    ctx.err(`tcpdump: ${iface}: No such device exists\n(SIOCGIFHWADDR: No such device)\n`);
    return 1;
  }
  try {
    compileFilter(o.filter);
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    ctx.err(`tcpdump: ${e.message}\n`);
    return 1;
  }
  if (!o.numeric)
    throw new TortieError(
      "Unsupported",
      "not supported yet: tcpdump without -n on the sim dataplane (names are not looked up; add -n)",
    );
  const stateDir = ctx.stateDir;
  const pid = process.pid;
  const file = registerCapture(stateDir, { pid, host: k.name, iface, filter: o.filter });
  if (!o.verbose) ctx.err("tcpdump: verbose output suppressed, use -v or -vv for full protocol decode\n");
  // Linux gives loopback an Ethernet link type too.
  const linkType = iface === "any" ? "LINUX_SLL (Linux cooked v1)" : "EN10MB (Ethernet)";
  ctx.err(`tcpdump: listening on ${iface}, link-type ${linkType}, capture size 262144 bytes\n`);
  const printer = new TcpdumpPrinter({
    verbose: o.verbose,
    portNames: o.numeric < 2,
    linkHeader: o.linkHeader,
  });
  const tail = new CaptureTail(file);
  let captured = 0;
  const interrupted = await new Promise<boolean>((resolve) => {
    const finish = (byCount: boolean) => {
      clearInterval(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(!byCount);
    };
    const onSignal = () => {
      drain();
      finish(false);
    };
    const drain = (): boolean => {
      for (const rec of tail.read()) {
        const frame: LinkFrame = {
          type: iface === "any" ? "sll" : "ether",
          direction: rec.dir,
          src: rec.mac[0],
          dst: rec.mac[1],
        };
        ctx.out(`${printer.format(rec.t, Buffer.from(rec.hex, "hex"), frame)}\n`);
        captured++;
        if (o.count !== undefined && captured >= o.count) return true;
      }
      return false;
    };
    const timer = setInterval(() => {
      if (drain()) finish(true);
    }, 50);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  unregisterCapture(stateDir, pid);
  // Interrupted mid-loop, tcpdump ends the line it may have been printing.
  if (interrupted) ctx.out("\n");
  ctx.err(
    `${plural(captured, "packet")} captured\n${plural(captured, "packet")} received by filter\n0 packets dropped by kernel\n`,
  );
  return 0;
}
