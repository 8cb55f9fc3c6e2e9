import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { type ApiObject, findKind, type KindDef } from "../api/index.ts";
import { type CheckReport, checkIpam, Ipam } from "../ipam/index.ts";
import { isTortieError, TortieError } from "../lib/index.ts";
import { familyBits, formatCidr, formatIp, parseIp } from "../net/index.ts";
import { readFileBounded } from "./bounded-read.ts";
import { boxTable } from "./box-table.ts";
import type { CliContext } from "./context.ts";
import { goFormatF0, goFormatG } from "./go-format.ts";

/** The Calico release whose calicoctl output tortie reproduces; `ipam check` reports carry it. */
const CALICOCTL_VERSION = "v3.31.0";

const v3 = (kind: string): KindDef => findKind("projectcalico.org/v3", kind)!;
const core = (kind: string): KindDef => findKind("v1", kind)!;

function ipamFor(ctx: CliContext): Ipam {
  return new Ipam(ctx.store().backend, { now: ctx.now });
}

/** calicoctl's argutils.ValidateIP wording. */
function validIp(text: string): string {
  const ip = parseIp(text);
  if (!ip) throw new TortieError("Invalid", "Error executing command: invalid IP address specified.");
  return text;
}

/** One row of `ipam show`: `%.5g` totals and `%.5g (%.f%%)` shares, exactly as calicoctl v3.31 formats them. */
function usageRow(kind: string, cidr: string, inUse: number, capacity: number): string[] {
  return [
    kind,
    cidr,
    goFormatG(capacity),
    `${goFormatG(inUse)} (${goFormatF0((100 * inUse) / capacity)}%)`,
    `${goFormatG(capacity - inUse)} (${goFormatF0((100 * (capacity - inUse)) / capacity)}%)`,
  ];
}

async function showUtilization(ctx: CliContext, showBlocks: boolean): Promise<void> {
  const rows: string[][] = [];
  for (const pool of await ipamFor(ctx).getUtilization()) {
    const blockRows = pool.blocks.map((b) => usageRow("Block", b.cidr, b.capacity - b.available, b.capacity));
    const inUse = pool.blocks.reduce((n, b) => n + b.capacity - b.available, 0);
    // No pool row for blocks outside every pool (calicoctl's zero-length CIDR group).
    if (pool.cidr)
      rows.push(
        usageRow(
          "IP Pool",
          formatCidr(pool.cidr),
          inUse,
          2 ** (familyBits(pool.cidr.family) - pool.cidr.prefix),
        ),
      );
    if (showBlocks) rows.push(...blockRows);
  }
  ctx.out(boxTable(["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"], rows));
}

async function showIp(ctx: CliContext, ip: string): Promise<void> {
  const attrs = await ipamFor(ctx).getAssignmentAttributes(validIp(ip));
  if (!attrs) {
    ctx.out(`${ip} is not assigned\n`);
    return;
  }
  ctx.out(`IP ${ip} is in use\n`);
  const keys = Object.keys(attrs.attrs).sort();
  if (keys.length === 0) ctx.out("No attributes defined\n");
  else ctx.out(`Attributes:\n${keys.map((k) => `  ${k}: ${attrs.attrs[k]}\n`).join("")}`);
}

async function showBorrowed(ctx: CliContext): Promise<void> {
  const rows: string[][] = [];
  let unclassified = 0;
  for (const b of await ctx.store().list(v3("IPAMBlock"))) {
    const spec = b.spec;
    const owner = spec.affinity ? (spec.affinity.split(":")[1] ?? spec.affinity) : "";
    const base = parseIp(spec.cidr.split("/")[0])!;
    spec.allocations.forEach((idx: number | null, ord: number) => {
      if (idx === null) return;
      const s: Record<string, string> = spec.attributes[idx]?.secondary ?? {};
      if (s.node === undefined) {
        unclassified++;
        return;
      }
      if (s.node === owner) return;
      const addr = formatIp({ family: base.family, value: base.value + BigInt(ord) });
      const type = s.pod !== undefined ? "pod" : (s.type ?? "");
      const to = s.pod !== undefined ? `${s.namespace}/${s.pod}` : "";
      rows.push([addr, s.node, spec.cidr, owner, type, to]);
    });
  }
  ctx.out(boxTable(["IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"], rows));
  if (unclassified !== 0)
    ctx.out(
      `\nNote: found ${unclassified} IP allocations without an explicit node association. Unable to determine if they are borrowed.\n`,
    );
}

async function showConfiguration(ctx: CliContext): Promise<void> {
  const c = await ipamFor(ctx).getIpamConfig();
  ctx.out(
    boxTable(
      ["PROPERTY", "VALUE"],
      [
        ["StrictAffinity", String(c.strictAffinity)],
        ["AutoAllocateBlocks", String(c.autoAllocateBlocks)],
        ["MaxBlocksPerHost", String(c.maxBlocksPerHost)],
      ],
    ),
  );
}

async function check(
  ctx: CliContext,
  o: { showAllIps?: boolean; showProblemIps?: boolean; output?: string },
) {
  const store = ctx.store();
  const handles = await store.list(v3("IPAMHandle"));
  const result = checkIpam({
    blocks: (await store.list(v3("IPAMBlock"))).map((b) => b.spec),
    pools: await store.list(v3("IPPool")),
    nodes: await store.list(v3("Node")),
    workloadEndpoints: await store.list(v3("WorkloadEndpoint")),
    pods: await store.list(core("Pod")),
    services: await store.list(core("Service")),
    handles: handles.map((h) => ({
      id: h.spec.handleID,
      uid: h.metadata.uid,
      revision: h.metadata.resourceVersion!,
    })),
    clusterInformation: await store.get(v3("ClusterInformation"), "default"),
    showAllIps: o.showAllIps === true,
    showProblemIps: o.showAllIps === true || o.showProblemIps === true,
    version: CALICOCTL_VERSION,
  });
  ctx.out(result.lines.map((l) => `${l}\n`).join(""));
  if (o.output) {
    try {
      writeFileSync(o.output, reportJson(result.report));
    } catch (e) {
      throw new TortieError(
        "Invalid",
        `cannot write the report to ${o.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
}

/** The report as Go's json.MarshalIndent writes it: struct fields in declaration order, map keys sorted. */
function reportJson(r: CheckReport): string {
  const allocations: Record<string, unknown> = {};
  for (const ip of Object.keys(r.allocations).sort())
    allocations[ip] = r.allocations[ip]!.map((a) => ({
      ip: a.ip,
      ...(a.handle !== undefined && { handle: a.handle }),
      ...(a.sequenceNumber !== undefined && { sequenceNumber: a.sequenceNumber }),
      ...(a.pod && { pod: a.pod }),
      ...(a.namespace && { namespace: a.namespace }),
      ...(a.node && { node: a.node }),
      ...(a.type && { type: a.type }),
      ...(a.creationTimestamp && { creationTimestamp: a.creationTimestamp }),
      inUse: a.inUse,
      ...(a.borrowed && { borrowed: true }),
      owners: a.owners,
    }));
  return JSON.stringify(
    {
      version: r.version,
      clusterGUID: r.clusterGUID,
      datastoreLocked: r.datastoreLocked,
      clusterInformationRevision: r.clusterInformationRevision,
      clusterType: r.clusterType,
      allocations,
      ...(r.leakedHandles && { leakedHandles: r.leakedHandles }),
    },
    null,
    2,
  );
}

async function release(
  ctx: CliContext,
  o: { ip?: string; fromReport?: string[]; force?: boolean },
): Promise<void> {
  if (o.fromReport && o.fromReport.length > 0) {
    await releaseFromReports(ctx, o.fromReport, o.force === true);
    ctx.out("You may now unlock the data store.\n");
    return;
  }
  if (!o.ip) return;
  const ip = validIp(o.ip);
  const { unallocated } = await ipamFor(ctx).releaseIps([{ address: ip }]);
  if (unallocated.length !== 0) throw new TortieError("NotFound", `IP address ${ip} is not assigned`);
  ctx.out(`Successfully released IP address ${ip}\n`);
}

async function releaseFromReports(ctx: CliContext, files: string[], force: boolean): Promise<void> {
  const store = ctx.store();
  const info: ApiObject | undefined = await store.get(v3("ClusterInformation"), "default");
  const reports: CheckReport[] = files.map((f) => {
    let text: string;
    try {
      // Bounded: `--from-report /dev/zero` is refused instead of read until memory runs out.
      text = readFileBounded(f);
    } catch (e) {
      if (isTortieError(e)) throw e;
      throw new TortieError("NotFound", `cannot read report ${f}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text) as CheckReport;
    } catch (e) {
      throw new TortieError("Parse", `${f}: not an ipam check report: ${(e as Error).message}`);
    }
  });
  let current = false;
  files.forEach((f, i) => {
    const r = reports[i]!;
    if ((info?.spec?.clusterGUID ?? "") !== (r.clusterGUID ?? ""))
      throw new TortieError(
        "Invalid",
        `cluster does not match the provided report (${f}): mismatched cluster GUID. Refusing to release`,
      );
    if (r.version !== CALICOCTL_VERSION) {
      if (!force)
        throw new TortieError(
          "Invalid",
          `the provided report (${f}) was produced using a different version (${r.version}) of calicoctl. Refusing to release`,
        );
      ctx.out(
        "WARNING: Report was produced using a different version of calicoctl. Ignoring due to --force option\n",
      );
    }
    if ((info?.metadata.resourceVersion ?? "") === (r.clusterInformationRevision ?? "")) current = true;
  });
  if (!current)
    throw new TortieError(
      "Invalid",
      "the provided reports are all stale - at least one should be up-to-date. Please generate a new report while the data store is locked and try again",
    );
  if (info?.spec?.datastoreReady !== false) {
    if (!force)
      throw new TortieError(
        "Invalid",
        "data store is not locked. Either lock the data store, or re-run with --force",
      );
    ctx.out("WARNING: Data store is not locked. Ignoring due to --force option\n");
  }
  // Only what every report calls leaked is released.
  let ips: Map<string, { address: string; handle?: string; sequenceNumber?: number }> | undefined;
  let handles: Map<string, { ID: string; UID: string | null; Revision: string }> | undefined;
  for (const r of reports) {
    const nextIps = new Map<string, { address: string; handle?: string; sequenceNumber?: number }>();
    for (const allocs of Object.values(r.allocations ?? {}))
      for (const a of allocs) {
        if (a.inUse || (ips && !ips.has(a.ip))) continue;
        nextIps.set(a.ip, { address: a.ip, handle: a.handle, sequenceNumber: a.sequenceNumber });
      }
    ips = nextIps;
    const nextHandles = new Map<string, { ID: string; UID: string | null; Revision: string }>();
    for (const h of r.leakedHandles ?? [])
      if (!handles || handles.get(h.ID)?.Revision === h.Revision) nextHandles.set(h.ID, h);
    handles = nextHandles;
  }
  const ipam = ipamFor(ctx);
  if (ips && ips.size > 0) {
    ctx.out(`Releasing ${ips.size} old IPs...\n`);
    try {
      const { unallocated } = await ipam.releaseIps([...ips.values()]);
      ctx.out(`Released ${ips.size - unallocated.length} IPs successfully\n`);
      if (unallocated.length !== 0)
        ctx.out(
          `${unallocated.length} addresses marked as leaked in the report had already been cleaned up.\n`,
        );
    } catch (e) {
      ctx.out(
        `An error occurred while releasing some IPs: ${(e as Error).message}.  Problems are often caused by an out-of-date IPAM report.  Try regenerating the IPAM report and retry.\n`,
      );
    }
  } else ctx.out("Report didn't contain any leaked IPs to clean up.\n");
  if (handles && handles.size > 0) {
    ctx.out(`Deleting ${handles.size} handles...\n`);
    ctx.out("Key: '.' = Deleted OK; 'x' = skip, handle missing/changed.\n");
    let released = 0;
    let skipped = 0;
    let dots = "";
    const handleDef = v3("IPAMHandle");
    for (const h of handles.values()) {
      const live = (await store.list(handleDef)).find((x) => x.spec.handleID === h.ID);
      if (!live || live.metadata.resourceVersion !== h.Revision || (live.metadata.uid ?? null) !== h.UID) {
        skipped++;
        dots += "x";
        continue;
      }
      await store.delete(handleDef, live.metadata.name!, undefined, {
        asController: true,
        resourceVersion: live.metadata.resourceVersion,
      });
      released++;
      dots += ".";
    }
    ctx.out(`${dots}\nReleased ${released} handles; ${skipped} skipped; 0 errors.\n`);
  } else ctx.out("Report didn't contain any handles to clean up.\n");
}

async function configure(ctx: CliContext, strictAffinity: string): Promise<void> {
  if (strictAffinity !== "true" && strictAffinity !== "false")
    throw new TortieError(
      "Usage",
      `invalid value for --strictaffinity: ${strictAffinity} (want true or false)`,
    );
  const store = ctx.store();
  const def = v3("IPAMConfiguration");
  const live = await store.get(def, "default");
  const value = strictAffinity === "true";
  if (live) await store.update({ ...live, spec: { ...live.spec, strictAffinity: value } });
  else
    await store.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPAMConfiguration",
      metadata: { name: "default" },
      spec: { strictAffinity: value, autoAllocateBlocks: true },
    });
  ctx.out(`Successfully set StrictAffinity to: ${value}\n`);
}

/** `calicoctl ipam show|check|release|configure`, with calicoctl v3.31's flags and output. */
export function addIpamCommands(program: Command, ctx: CliContext): void {
  const ipam = program.command("ipam").description("IP address management: show, check, release, configure");
  const compat = (c: Command) =>
    c
      .option("--allow-version-mismatch", "accepted for compatibility; tortie has one version")
      .option("-c, --config <file>", "accepted for compatibility; tortie uses --state-dir");
  compat(ipam.command("show"))
    .description("IP usage per pool (and block), or one address's owner")
    .option("--ip <ip>", "report whether this specific IP address is in use")
    .option("--show-blocks", "show detailed information for IP blocks as well as pools")
    .option("--show-borrowed", 'show detailed information for "borrowed" IP addresses')
    .option("--show-configuration", "show current Calico IPAM configuration")
    .action(
      async (o: {
        ip?: string;
        showBlocks?: boolean;
        showBorrowed?: boolean;
        showConfiguration?: boolean;
      }) => {
        if (o.ip !== undefined) return showIp(ctx, o.ip);
        if (o.showBlocks) return showUtilization(ctx, true);
        if (o.showBorrowed) return showBorrowed(ctx);
        if (o.showConfiguration) return showConfiguration(ctx);
        return showUtilization(ctx, false);
      },
    );
  compat(ipam.command("check"))
    .description("check IPAM's records against the workloads, nodes and services using addresses")
    .option("--show-all-ips", "print all IPs that are checked")
    .option("--show-problem-ips", "print all IPs that are leaked or not allocated properly")
    .option("-o, --output <file>", "path to output report file")
    .option("--kubeconfig <file>", "accepted for compatibility; tortie has one cluster")
    .action((o) => check(ctx, o));
  compat(ipam.command("release"))
    .description("release an address, or the leaks common to one or more `ipam check` reports")
    .option("--ip <ip>", "IP address to release")
    .option("--from-report <file...>", "release all leaked addresses from the report(s)")
    .option("--force", "force release of leaked addresses")
    .action((o) => release(ctx, o));
  compat(ipam.command("configure"))
    .description("set IPAM configuration")
    .requiredOption("--strictaffinity <bool>", "only hosts with a block's affinity may assign from it")
    .action((o: { strictaffinity: string }) => configure(ctx, o.strictaffinity));
}
