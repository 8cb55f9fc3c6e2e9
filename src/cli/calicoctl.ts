import { Command, Option } from "commander";
import {
  type ApiObject,
  apiVersionOf,
  findKind,
  jsonPatch,
  type KindDef,
  mergePatch,
  resolveCalicoctlResource,
  toJson,
  toYaml,
} from "../api/index.ts";
import { escapeControl, TortieError } from "../lib/index.ts";
import { ResourceError } from "../store/index.ts";
import { addIpamCommands } from "./calicoctl-ipam.ts";
import { addNodeCommands } from "./calicoctl-node.ts";
import { calicoctlTable } from "./calicoctl-tables.ts";
import type { CliContext } from "./context.ts";
import { type DeleteTarget, deleteTargetsFromFile, prepareForWrite } from "./manifests.ts";
import { checkPatchedObject } from "./patch-checks.ts";
import { checkPatchedKind } from "./patch-identity.ts";
import { updateWithRetry } from "./retry-update.ts";
import { CALICOCTL_STYLE, formatTable } from "./tabwriter.ts";

/** Kinds calico-node creates at startup; calicoctl can patch them on a fresh cluster. */
const CREATED_ON_DEMAND = new Set(["BGPConfiguration", "FelixConfiguration", "KubeControllersConfiguration"]);

/** calicoctl's wording: `resource does not exist: IPPool(x) with error: <nil>` and friends. */
function calicoctlErrorText(e: unknown): string {
  if (e instanceof ResourceError) {
    const id = `${e.subject.def.kind}(${e.subject.namespace ? `${e.subject.namespace}/` : ""}${e.subject.name})`;
    if (e.code === "NotFound") return `resource does not exist: ${id} with error: ${e.message}`;
    if (e.code === "AlreadyExists") return `resource already exists: ${id}`;
    if (e.code === "Conflict") return `update conflict: ${id}`;
  }
  return (e as Error).message;
}

function resolveKind(resource: string): KindDef {
  const def = resolveCalicoctlResource(resource);
  if (!def) throw new TortieError("Invalid", `resource type '${resource}' is not supported`);
  return def;
}

/** calicoctl keeps the Calico metadata the libcalico client returns: no generation, no managedFields. */
function calicoView(o: ApiObject): ApiObject {
  const copy = structuredClone(o);
  delete copy.metadata.generation;
  return copy;
}

/** What calicoctl apply/replace stores over `live`: the file's object with the stored metadata, labels merged. */
function calicoReplacement(live: ApiObject, object: ApiObject): ApiObject {
  const next = structuredClone(object);
  const labels = { ...live.metadata.labels, ...object.metadata.labels };
  const annotations = { ...live.metadata.annotations, ...object.metadata.annotations };
  next.metadata = { ...live.metadata, resourceVersion: object.metadata.resourceVersion };
  if (Object.keys(labels).length > 0) next.metadata.labels = labels;
  else delete next.metadata.labels;
  if (Object.keys(annotations).length > 0) next.metadata.annotations = annotations;
  else delete next.metadata.annotations;
  if (next.metadata.resourceVersion === undefined) delete next.metadata.resourceVersion;
  return next;
}

interface Opts {
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  filename?: string;
  patch?: string;
  type?: string;
}

function namespaceOf(def: KindDef, o: Opts): string | undefined {
  if (!def.namespaced) {
    if (o.namespace || o.allNamespaces) throw new TortieError("Usage", `${def.kind} is not namespaced`);
    return undefined;
  }
  return o.allNamespaces ? undefined : (o.namespace ?? "default");
}

export function calicoctlProgram(ctx: CliContext): Command {
  const program = new Command("calicoctl").description("calicoctl's verbs and output over tortie's store");
  const common = (c: Command) =>
    c
      .option("-n, --namespace <ns>", "namespace (NetworkPolicy, NetworkSet, WorkloadEndpoint)")
      .option("--allow-version-mismatch", "accepted for compatibility; tortie has one version")
      .option("-c, --config <file>", "accepted for compatibility; tortie uses --state-dir");

  const plural = (n: number) => n;
  for (const verb of ["apply", "create", "replace"] as const) {
    common(program.command(verb))
      .description(`${verb} Calico resources from a file`)
      .requiredOption("-f, --filename <file>", "manifest file, or - for stdin")
      .option("--skip-exists", "create: skip resources that already exist")
      .action(async (o: Opts & { skipExists?: boolean }) => {
        const store = ctx.store();
        const prepared = await prepareForWrite(
          ctx,
          o.filename!,
          o.namespace,
          `No resources specified in file ${o.filename}`,
          (def, entry) => {
            if (def.group !== "projectcalico.org")
              throw new TortieError(
                "Invalid",
                `Unknown resource type (${entry.object.kind}) and/or version (${entry.object.apiVersion})`,
              );
            if (def.kind === "ClusterInformation")
              throw new TortieError(
                "Unsupported",
                `operation ${verb} is not supported on ClusterInformation: resource is readonly`,
              );
          },
        );
        const kinds = new Set(prepared.map((p) => p.def.kind));
        const kindText = kinds.size === 1 ? ` '${[...kinds][0]}'` : "";
        let done = 0;
        try {
          for (const { def, object } of prepared) {
            const exists = await store.get(def, object.metadata.name!, object.metadata.namespace);
            let created = false;
            if (verb === "create" || (verb === "apply" && !exists)) {
              if (exists && o.skipExists) {
                done++;
                continue;
              }
              try {
                await store.create(object);
                created = true;
              } catch (e) {
                // apply: another writer created it since, so this apply updates it.
                if (verb !== "apply" || !(e instanceof ResourceError && e.code === "AlreadyExists")) throw e;
              }
            }
            // calicoctl replaces the spec whole, keeping stored metadata but merging labels and annotations, on
            // the live object of the moment (retried on a lost race). A resourceVersion in the file is the
            // user's precondition, checked and never retried away.
            if (!created)
              await updateWithRetry(store, def, object.metadata.name!, object.metadata.namespace, (live) =>
                calicoReplacement(live, object),
              );
            done++;
          }
        } catch (e) {
          const msg = calicoctlErrorText(e);
          if (done === 0)
            throw new TortieError(
              (e as TortieError).code ?? "Internal",
              prepared.length === 1
                ? `Failed to ${verb}${kindText} resource: [${msg}]`
                : `Failed to ${verb} any${kindText} resources: [${msg}]`,
            );
          throw new TortieError(
            (e as TortieError).code ?? "Internal",
            `Partial success: ${verb === "apply" ? "applied" : verb === "create" ? "created" : "replaced"} the first ${done} out of ${prepared.length}${kindText} resources:\nHit error(s): [${escapeControl(msg)}]`,
            { multiline: true },
          );
        }
        const past = { apply: "applied", create: "created", replace: "replaced" }[verb];
        ctx.out(`Successfully ${past} ${plural(done)}${kindText} resource(s)\n`);
      });
  }

  common(program.command("delete"))
    .description("delete Calico resources by name or file")
    .argument("[args...]", "KIND NAME...")
    .option("-f, --filename <file>", "manifest file")
    .option("--skip-not-exists", "skip resources that do not exist")
    .action(async (args: string[], o: Opts & { skipNotExists?: boolean }) => {
      const store = ctx.store();
      const targets: DeleteTarget[] = o.filename ? deleteTargetsFromFile(ctx, o.filename, o.namespace) : [];
      if (!o.filename) {
        const [kind, ...names] = args;
        if (!kind || names.length === 0)
          throw new TortieError("Usage", "delete needs a KIND and a NAME, or --filename");
        const def = resolveKind(kind);
        for (const name of names) targets.push({ def, name, namespace: namespaceOf(def, o) });
      }
      let done = 0;
      for (const t of targets) {
        try {
          await store.delete(t.def, t.name, t.namespace);
          done++;
        } catch (e) {
          if (!(o.skipNotExists && e instanceof ResourceError && e.code === "NotFound"))
            throw new TortieError(
              "NotFound",
              `Failed to delete '${t.def.kind}' resource: [${calicoctlErrorText(e)}]`,
            );
        }
      }
      const kinds = new Set(targets.map((t) => t.def.kind));
      ctx.out(`Successfully deleted ${done}${kinds.size === 1 ? ` '${[...kinds][0]}'` : ""} resource(s)\n`);
    });

  common(program.command("get"))
    .description("list or show Calico resources")
    .argument("<kind>", "resource kind")
    .argument("[names...]", "names")
    .option("-A, --all-namespaces", "all namespaces")
    .option("-o, --output <format>", "ps|wide|yaml|json", "ps")
    .action(async (kind: string, names: string[], o: Opts) => {
      const store = ctx.store();
      const def = resolveKind(kind);
      const ns = namespaceOf(def, o);
      let objects: ApiObject[];
      const single = names.length === 1;
      if (names.length > 0) {
        if (def.namespaced && ns === undefined)
          throw new TortieError("Usage", "cannot use --all-namespace flag for getting a single resource");
        objects = [];
        for (const name of names) objects.push(await store.mustGet(def, name, ns));
      } else objects = await store.list(def, ns);
      objects = objects.map(calicoView);
      if (o.output === "yaml" || o.output === "json") {
        const rev = String(await store.backend.revision());
        const value = single
          ? objects[0]
          : {
              apiVersion: apiVersionOf(def),
              items: objects,
              kind: `${def.kind}List`,
              metadata: { resourceVersion: rev },
            };
        ctx.out(o.output === "yaml" ? toYaml(value) : `${toJson(value, 2)}\n`);
        return;
      }
      if (o.output !== "ps" && o.output !== "wide")
        throw new TortieError("Usage", `unrecognized output format '${o.output}'`);
      const bgp = await store.get(findKind("projectcalico.org/v3", "BGPConfiguration")!, "default");
      const asNumber = String(bgp?.spec?.asNumber ?? 64512);
      ctx.out(
        formatTable(
          calicoctlTable(def.kind, objects, {
            wide: o.output === "wide",
            withNamespace: def.namespaced && !!o.allNamespaces,
            asNumber,
          }),
          CALICOCTL_STYLE,
        ),
      );
      ctx.out("\n");
    });

  common(program.command("patch"))
    .description("patch a Calico resource in place")
    .argument("<kind>", "resource kind")
    .argument("<name>", "resource name")
    .requiredOption("-p, --patch <patch>", "the patch, as JSON")
    .addOption(
      new Option("-t, --type <type>", "patch type")
        .choices(["strategic", "json", "merge"])
        .default("strategic"),
    )
    .action(async (kind: string, name: string, o: Opts) => {
      const store = ctx.store();
      const def = resolveKind(kind);
      const ns = namespaceOf(def, o);
      let patch: unknown;
      try {
        patch = JSON.parse(o.patch!);
      } catch (e) {
        throw new TortieError(
          "Invalid",
          `Hit error: permorming strategic merge patch: ${(e as Error).message}`,
        );
      }
      // The live object, or calico-node's default created on demand (by this process or a racing one).
      const read = async (live: ApiObject | undefined): Promise<ApiObject> => {
        if (!live && CREATED_ON_DEMAND.has(def.kind) && name === "default") {
          await store.ensureBuiltIns();
          try {
            return await store.create({
              apiVersion: apiVersionOf(def),
              kind: def.kind,
              metadata: { name },
              spec: {},
            });
          } catch (e) {
            if (!(e instanceof ResourceError && e.code === "AlreadyExists")) throw e;
            live = await store.get(def, name, ns);
          }
        }
        if (!live)
          throw new TortieError(
            "NotFound",
            `Hit error: resource does not exist: ${def.kind}(${name}) with error: ${def.plural} "${name}" not found`,
          );
        return live;
      };
      // Calico's Go types carry no merge keys, so strategic merge behaves as a JSON merge patch here. Applied to
      // the live object, again to a newer one if another writer won the race.
      const mutate = (live: ApiObject): ApiObject => {
        const patched: unknown = o.type === "json" ? jsonPatch(live, patch) : mergePatch(live, patch);
        checkPatchedObject(patched, name, ns);
        checkPatchedKind(def, live, patched);
        patched.apiVersion = apiVersionOf(def);
        patched.kind = def.kind;
        return patched;
      };
      // The patch's own errors (and NotFound) are reported as they are; the store's refusals of the write as
      // calicoctl words a failed update.
      const own = new WeakSet<object>();
      const tagged =
        <A extends unknown[], R>(f: (...a: A) => R) =>
        async (...a: A): Promise<Awaited<R>> => {
          try {
            return await f(...a);
          } catch (e) {
            if (e instanceof Object) own.add(e);
            throw e;
          }
        };
      try {
        await updateWithRetry(store, def, name, ns, tagged(mutate), tagged(read));
      } catch (e) {
        if (own.has(e as object)) throw e;
        throw new TortieError(
          (e as TortieError).code ?? "Internal",
          `Hit error: updating existing resource: ${calicoctlErrorText(e)}`,
        );
      }
      ctx.out(`Successfully patched 1 '${def.kind}' resource\n`);
    });

  common(program.command("label"))
    .description("add or remove labels on a Calico resource")
    .argument("<kind>", "resource kind")
    .argument("<name>", "resource name")
    .argument("[label]", "key=value")
    .option("--remove", "remove the label")
    .option("--overwrite", "allow changing an existing label")
    .action(
      async (
        kind: string,
        name: string,
        label: string | undefined,
        o: Opts & { remove?: boolean; overwrite?: boolean },
      ) => {
        const store = ctx.store();
        const def = resolveKind(kind);
        const ns = namespaceOf(def, o);
        // Checked against the live object of each attempt: a racing writer's labels are kept, not overwritten.
        await updateWithRetry(store, def, name, ns, (live) => {
          if (!label) throw new TortieError("Usage", "label needs key=value, or key with --remove");
          const eq = label.indexOf("=");
          const key = eq === -1 ? label : label.slice(0, eq);
          const value = eq === -1 ? undefined : label.slice(eq + 1);
          const labels = { ...live.metadata.labels };
          if (o.remove) {
            if (!(key in labels))
              throw new TortieError(
                "NotFound",
                `can not remove label of ${kind} ${name}, label ${key} not found`,
              );
            delete labels[key];
          } else {
            if (value === undefined) throw new TortieError("Usage", "invalid label, must be key=value");
            if (key in labels && !o.overwrite)
              throw new TortieError(
                "Invalid",
                `failed to update label of resource ${kind} ${name}, label ${key} already exists, use --overwrite to update it`,
              );
            labels[key] = value;
          }
          live.metadata.labels = labels;
          return live;
        });
        const eq = label!.indexOf("=");
        const key = eq === -1 ? label! : label!.slice(0, eq);
        ctx.out(
          o.remove
            ? `Successfully removed label ${key} from ${kind} ${name}\n`
            : `Successfully set label ${key} on ${kind} ${name}\n`,
        );
      },
    );

  program
    .command("version")
    .description("client and cluster versions")
    .action(() =>
      ctx.out(
        "Client Version:    v3.31.0 (tortie 0.1.0)\nCluster Version:   v3.31.0 (tortie 0.1.0)\nCluster Type:      tortie,k8s,kdd\n",
      ),
    );

  addIpamCommands(program, ctx);
  addNodeCommands(program, ctx);

  return program;
}

export { calicoctlErrorText };
