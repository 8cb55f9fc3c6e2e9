import type { Command } from "commander";
import { type ApiObject, type KindDef, resolveKubectlResource, toJson } from "../api/index.ts";
import { conditionIsTrue, controlKinds } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import { parseLabelSelector } from "../selector/index.ts";
import type { CliContext } from "./context.ts";
import { kubectlKindName } from "./kubectl.ts";
import { parseReplicasFlag } from "./replicas-flag.ts";
import { updateWithRetry } from "./retry-update.ts";
import { readSimLogs } from "./sim-state-files.ts";

/** `deployment/x`, `deploy x`, `pod/x` → kind and name. */
function target(args: string[]): { def: KindDef; name: string } {
  const [first, second] = args;
  const [kind, name] = first?.includes("/") ? (first.split("/", 2) as [string, string]) : [first, second];
  if (!kind || !name)
    throw new TortieError("Usage", "error: you must specify a resource as TYPE/NAME or TYPE NAME");
  const def = resolveKubectlResource(kind);
  if (!def) throw new TortieError("Invalid", `the server doesn't have a resource type "${kind}"`);
  return { def, name };
}

/**
 * kubectl verbs that act on a running cluster: scale, run, rollout status, wait, cluster-info dump. The
 * controllers settle after every write, so waiting is checking: a condition not met now will not be met later.
 */
export function addClusterCommands(program: Command, ctx: CliContext): void {
  program
    .command("scale")
    .description("set a Deployment's or ReplicaSet's replicas")
    .argument("<resource...>")
    .requiredOption("--replicas <n>", "the new number of replicas")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action(async (args: string[], o: { replicas: string; namespace: string }) => {
      const { def, name } = target(args);
      if (def !== controlKinds.Deployment && def !== controlKinds.ReplicaSet)
        throw new TortieError(
          "Invalid",
          `cannot scale ${kubectlKindName(def)}: only deployments and replicasets scale`,
        );
      const replicas = parseReplicasFlag(o.replicas);
      const store = ctx.store();
      // The scale subresource's PATCH: applied to whatever the live object is now, retried on a lost race.
      await updateWithRetry(store, def, name, o.namespace, (live) => ({
        ...live,
        spec: { ...live.spec, replicas },
      }));
      ctx.out(`${kubectlKindName(def)}/${name} scaled\n`);
    });

  program
    .command("run")
    .description("create a pod running an image")
    .argument("<name>")
    .requiredOption("--image <image>", "container image (chooses the workload's behaviour)")
    .option("-l, --labels <k=v,...>", "labels (default run=NAME)")
    .option("--port <port>", "container port")
    .option("-n, --namespace <ns>", "namespace", "default")
    .allowExcessArguments(true)
    .action(async (name: string, o: { image: string; labels?: string; port?: string; namespace: string }) => {
      const labels: Record<string, string> = {};
      for (const pair of (o.labels ?? `run=${name}`).split(",")) {
        const i = pair.indexOf("=");
        if (i <= 0) throw new TortieError("Usage", `error: invalid label spec: ${pair}`);
        labels[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const container: Record<string, unknown> = { name, image: o.image };
      if (o.port) container.ports = [{ containerPort: Number(o.port) }];
      await ctx.store().create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: o.namespace, labels },
        spec: { containers: [container] },
      });
      ctx.out(`pod/${name} created\n`);
    });

  program
    .command("rollout")
    .description("rollout status of a Deployment")
    .argument("<action>")
    .argument("<resource...>")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action(async (action: string, args: string[], o: { namespace: string }) => {
      if (action !== "status")
        throw new TortieError("Unsupported", `not supported yet: kubectl rollout ${action}`);
      const { def, name } = target(args);
      if (def !== controlKinds.Deployment)
        throw new TortieError("Invalid", `no status viewer has been implemented for ${def.kind}`);
      const d = await ctx.store().mustGet(def, name, o.namespace);
      const available = d.status?.availableReplicas ?? 0;
      if (available < d.spec.replicas)
        throw new TortieError(
          "Internal",
          `deployment "${name}" has ${available} of ${d.spec.replicas} updated replicas available and the cluster has settled; see "kubectl get pods -n ${o.namespace}"`,
        );
      ctx.out(`deployment "${name}" successfully rolled out\n`);
    });

  program
    .command("wait")
    .description("check a condition on resources (the cluster has already settled)")
    .argument("<resource...>")
    .requiredOption("--for <condition>", "condition=NAME or delete")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--timeout <duration>", "accepted for compatibility; nothing changes while waiting")
    .option("--all", "every object of the kind")
    .option("-l, --selector <selector>", "the objects of the kind whose labels match")
    .action(
      async (args: string[], o: { for: string; namespace: string; all?: boolean; selector?: string }) => {
        const m = /^condition=(.+)$/.exec(o.for);
        if (!m) throw new TortieError("Unsupported", `not supported yet: kubectl wait --for=${o.for}`);
        const store = ctx.store();
        const objects: { def: KindDef; o: ApiObject }[] = [];
        if (o.all || o.selector !== undefined) {
          const def = resolveKubectlResource(args[0] ?? "");
          if (!def) throw new TortieError("Invalid", `the server doesn't have a resource type "${args[0]}"`);
          const match = o.selector !== undefined ? parseLabelSelector(o.selector) : () => true;
          for (const x of await store.list(def, def.namespaced ? o.namespace : undefined))
            if (match(x.metadata.labels)) objects.push({ def, o: x });
          if (objects.length === 0) throw new TortieError("NotFound", "no matching resources found");
        } else {
          const { def, name } = target(args);
          objects.push({ def, o: await store.mustGet(def, name, def.namespaced ? o.namespace : undefined) });
        }
        for (const { def, o: x } of objects) {
          if (!conditionIsTrue(x, m[1]!))
            throw new TortieError(
              "Internal",
              `timed out waiting for the condition on ${def.plural}/${x.metadata.name}`,
            );
          ctx.out(`${kubectlKindName(def)}/${x.metadata.name} condition met\n`);
        }
      },
    );

  program
    .command("cluster-info")
    .description(
      "cluster-info dump: nodes, then each namespace's lists and its pods' logs, in kubectl's order, as JSON",
    )
    .argument("<action>")
    .option("-A, --all-namespaces", "every namespace")
    .option("--namespaces <list>", "comma-separated namespaces (default kube-system,default)")
    .action(async (action: string, o: { allNamespaces?: boolean; namespaces?: string }) => {
      if (action !== "dump")
        throw new TortieError("Unsupported", `not supported yet: kubectl cluster-info ${action}`);
      const store = ctx.store();
      const revision = String(await store.backend.revision());
      // The list envelope in kubectl's field order; tortie keeps no events, replication controllers or daemon
      // sets (the API server serves them as empty, read-only kinds), so those lists are empty here too.
      const list = (kind: string, apiVersion: string, items: ApiObject[]) =>
        `${JSON.stringify(
          { kind, apiVersion, metadata: { resourceVersion: revision }, items: [] },
          null,
          4,
        ).replace(
          /"items": \[\]\n}$/,
          `"items": ${items.length === 0 ? "[]" : indentAfterFirstLine(toJson(items, 4))}\n}`,
        )}\n`;
      ctx.out(list("NodeList", "v1", await store.list(controlKinds.Node)));
      const namespaces = o.allNamespaces
        ? (await store.list(controlKinds.Namespace)).map((n) => n.metadata.name!)
        : (o.namespaces ?? "kube-system,default").split(",");
      const logs = readSimLogs(ctx.stateDir, ctx);
      for (const ns of namespaces) {
        const pods = await store.list(controlKinds.Pod, ns);
        ctx.out(list("EventList", "v1", []));
        ctx.out(list("ReplicationControllerList", "v1", []));
        ctx.out(list("ServiceList", "v1", await store.list(controlKinds.Service, ns)));
        ctx.out(list("DaemonSetList", "apps/v1", await store.list(controlKinds.DaemonSet, ns)));
        ctx.out(list("DeploymentList", "apps/v1", await store.list(controlKinds.Deployment, ns)));
        ctx.out(list("ReplicaSetList", "apps/v1", await store.list(controlKinds.ReplicaSet, ns)));
        ctx.out(list("PodList", "v1", pods));
        for (const pod of pods)
          for (const c of pod.spec?.containers ?? []) {
            const what = `container ${c.name} of pod ${ns}/${pod.metadata.name}`;
            const lines = logs[`${ns}/${pod.metadata.name}`] ?? [];
            ctx.out(`==== START logs for ${what} ====\n${lines.map((l) => `${l}\n`).join("")}`);
            ctx.out(`==== END logs for ${what} ====\n`);
          }
      }
    });
}

/** A nested JSON value's lines after the first, indented one level deeper (it sits inside the envelope). */
function indentAfterFirstLine(text: string): string {
  return text.replaceAll("\n", "\n    ");
}
