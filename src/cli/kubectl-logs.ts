import { statSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { type ApiObject, resolveKubectlResource } from "../api/index.ts";
import { controlKinds, type LabelSelector, matchesLabelSelector } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import { parseLabelSelector } from "../selector/index.ts";
import type { CliContext } from "./context.ts";
import { readSimLogs } from "./sim-state-files.ts";

/** How often `logs -f` looks at the sim's saved logs for lines other commands made the apps write. */
const FOLLOW_POLL_MS = 100;

interface LogsOptions {
  namespace?: string;
  selector?: string;
  tail?: string;
  follow?: boolean;
  prefix?: boolean;
  container?: string;
  maxLogRequests: string;
}

const isReady = (p: ApiObject) =>
  ((p.status?.conditions ?? []) as { type: string; status: string }[]).some(
    (c) => c.type === "Ready" && c.status === "True",
  );
const readyTime = (p: ApiObject) =>
  ((p.status?.conditions ?? []) as { type: string; lastTransitionTime?: string }[]).find(
    (c) => c.type === "Ready",
  )?.lastTransitionTime ?? "";
const restarts = (p: ApiObject) =>
  Math.max(
    0,
    ...((p.status?.containerStatuses ?? []) as { restartCount?: number }[]).map((c) => c.restartCount ?? 0),
  );

/** kubectl's podutils.ByLogging: the pod `logs deploy/X` picks first. */
function byLogging(a: ApiObject, b: ApiObject): number {
  const an = a.spec?.nodeName ?? "";
  const bn = b.spec?.nodeName ?? "";
  if (an !== bn && (an === "" || bn === "")) return an ? -1 : 1;
  const phase: Record<string, number> = { Running: 0, Unknown: 1, Pending: 2 };
  const pa = phase[a.status?.phase ?? ""] ?? 3;
  const pb = phase[b.status?.phase ?? ""] ?? 3;
  if (pa !== pb) return pa - pb;
  if (isReady(a) !== isReady(b)) return isReady(a) ? -1 : 1;
  if (isReady(a) && isReady(b) && readyTime(a) !== readyTime(b)) return readyTime(a) < readyTime(b) ? -1 : 1;
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const ca = a.metadata.creationTimestamp ?? "";
  const cb = b.metadata.creationTimestamp ?? "";
  if (ca !== cb) return ca < cb ? -1 : 1;
  return 0;
}

/** The pods a `logs` target names: POD, pod/POD, TYPE/NAME of a workload, or `-l SELECTOR`. */
async function targetPods(
  ctx: CliContext,
  target: string | undefined,
  o: LogsOptions,
  ns: string,
): Promise<ApiObject[]> {
  const store = ctx.store();
  if (o.selector !== undefined) {
    if (target !== undefined)
      throw new TortieError(
        "Usage",
        "only a selector (-l) or a POD name is allowed\nSee 'kubectl logs -h' for help and examples",
        { multiline: true },
      );
    const match = parseLabelSelector(o.selector);
    const pods = (await store.list(controlKinds.Pod, ns)).filter((p) => match(p.metadata.labels));
    if (pods.length === 0) ctx.err(`No resources found in ${ns} namespace.\n`);
    return pods;
  }
  if (target === undefined)
    throw new TortieError(
      "Usage",
      "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples",
      { multiline: true },
    );
  const slash = target.indexOf("/");
  const def = slash < 0 ? controlKinds.Pod : resolveKubectlResource(target.slice(0, slash));
  if (!def)
    throw new TortieError("Invalid", `the server doesn't have a resource type "${target.slice(0, slash)}"`);
  const name = slash < 0 ? target : target.slice(slash + 1);
  const object = await store.mustGet(def, name, def.namespaced ? ns : undefined);
  if (def === controlKinds.Pod) return [object];
  const builtIn = def.group === "" || def.group === "apps" || def.group.endsWith("k8s.io");
  const goType = builtIn ? `*v1.${def.kind}` : "*unstructured.Unstructured";
  // kubectl's own messages: logsForObject wraps what polymorphichelpers.SelectorsForObject returns.
  const cannot = (why: string) => new TortieError("Invalid", `cannot get the logs from ${goType}: ${why}`);
  if (!["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Service"].includes(def.kind))
    throw cannot(`selector for ${goType} not implemented`);
  const selector = object.spec?.selector as LabelSelector | Record<string, string> | undefined;
  if (def.kind === "Service" && Object.keys(selector ?? {}).length === 0)
    throw cannot(`invalid service '${name}': Service is defined without a selector`);
  const sel: LabelSelector | undefined =
    def.kind === "Service"
      ? { matchLabels: selector as Record<string, string> }
      : (selector as LabelSelector);
  const pods = (await store.list(controlKinds.Pod, ns))
    .filter((p) => matchesLabelSelector(sel, p.metadata.labels ?? {}))
    .sort(byLogging);
  if (pods.length === 0) throw new TortieError("Invalid", "timed out waiting for the condition");
  if (pods.length > 1) ctx.err(`Found ${pods.length} pods, using pod/${pods[0]!.metadata.name}\n`);
  return [pods[0]!];
}

/** An integer flag as pflag parses it (strconv.ParseInt), or kubectl's usage error. */
function intFlag(flag: string, text: string): number {
  if (!/^[+-]?\d+$/.test(text))
    throw new TortieError(
      "Usage",
      `invalid argument "${text}" for "--${flag}" flag: strconv.ParseInt: parsing "${text}": invalid syntax`,
    );
  return Number(text);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * `kubectl logs`: what a pod's app logged on the sim dataplane. `-f` keeps printing the lines that later
 * commands (other processes) make the app log, polling the saved sim state, until interrupted: like
 * kubectl, which installs no signal handler, SIGINT ends the process (the shell reports 130).
 */
export function addLogsCommand(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .description("print what a pod's app logged: logs [-f] [--tail N] (POD | TYPE/NAME | -l SEL)")
    .argument("[target]", "POD, pod/POD, or TYPE/NAME (deployment/X picks one of its pods)")
    .option("-n, --namespace <ns>", "namespace")
    .option("-c, --container <name>", "container (each sample pod has one)")
    .option("-l, --selector <selector>", "the pods a label selector matches (then --tail defaults to 10)")
    .option("--tail <n>", "how many of the last lines to print (-1: all)")
    .option("-f, --follow", "keep printing new lines until interrupted")
    .option("--prefix", "prefix each line with its source, [pod/NAME/CONTAINER]")
    .addOption(new Option("--max-log-requests <n>", "most pods to follow at once").default("5"))
    .action(async (target: string | undefined, o: LogsOptions) => {
      const ns = o.namespace ?? "default";
      let tail = -1;
      if (o.tail !== undefined) {
        tail = intFlag("tail", o.tail);
        if (tail < -1) throw new TortieError("Usage", "--tail must be greater than or equal to -1");
      }
      const max = intFlag("max-log-requests", o.maxLogRequests);
      if (o.selector !== undefined && tail === -1) tail = 10;
      const pods = await targetPods(ctx, target, o, ns);
      for (const p of pods) {
        const containers = ((p.spec?.containers ?? []) as { name: string }[]).map((c) => c.name);
        if (o.container !== undefined && !containers.includes(o.container))
          throw new TortieError(
            "Invalid",
            `container ${o.container} is not valid for pod ${p.metadata.name}`,
          );
      }
      if (o.follow && pods.length > max)
        throw new TortieError(
          "Invalid",
          `you are attempting to follow ${pods.length} log streams, but maximum allowed concurrency is ${max}, use --max-log-requests to increase the limit`,
        );
      const keys = pods.map((p) => `${p.metadata.namespace ?? ns}/${p.metadata.name}`);
      const prefixes = pods.map((p) =>
        o.prefix ? `[pod/${p.metadata.name}/${o.container ?? p.spec?.containers?.[0]?.name ?? ""}] ` : "",
      );
      const printed = keys.map(() => 0);
      let logs = readSimLogs(ctx.stateDir, ctx);
      keys.forEach((k, i) => {
        const lines = logs[k] ?? [];
        const shown = tail < 0 ? lines : tail === 0 ? [] : lines.slice(-tail);
        for (const l of shown) ctx.out(`${prefixes[i]}${l}\n`);
        printed[i] = lines.length;
      });
      if (!o.follow) return;
      const stateFile = ctx.stateDir === undefined ? undefined : join(ctx.stateDir, "sim-state.json");
      const stamp = () => {
        try {
          const st = statSync(stateFile!);
          return `${st.mtimeMs}/${st.size}/${st.ino}`;
        } catch {
          return "";
        }
      };
      let seen = stateFile ? stamp() : "";
      while (!ctx.signal?.aborted) {
        await sleep(FOLLOW_POLL_MS, ctx.signal);
        if (ctx.signal?.aborted) break;
        if (stateFile) {
          const now = stamp();
          if (now === seen) continue;
          seen = now;
        }
        logs = readSimLogs(ctx.stateDir, ctx);
        keys.forEach((k, i) => {
          const lines = logs[k] ?? [];
          // The log was rotated (sim-state-files.ts appendLog): the current file starts anew.
          if (lines.length < printed[i]!) printed[i] = 0;
          for (const l of lines.slice(printed[i])) ctx.out(`${prefixes[i]}${l}\n`);
          printed[i] = lines.length;
        });
      }
    });
}
