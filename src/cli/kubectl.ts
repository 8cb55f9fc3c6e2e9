import { Command, Option } from "commander";
import {
  type ApiObject,
  apiVersionOf,
  jsonPatch,
  type KindDef,
  labelKeyProblem,
  labelValueProblem,
  mergePatch,
  resolveKubectlResource,
  strategicMergePatch,
  threeWayMerge,
  toJson,
  toYaml,
} from "../api/index.ts";
import { deepEqual, escapeControl, TortieError } from "../lib/index.ts";
import { parseLabelSelector } from "../selector/index.ts";
import { ResourceError } from "../store/index.ts";
import { CommandExit } from "./command-exit.ts";
import type { CliContext } from "./context.ts";
import type { GoData } from "./go-fmt.ts";
import { addClusterCommands } from "./kubectl-cluster.ts";
import { createFromGenerator } from "./kubectl-create.ts";
import { describePodText } from "./kubectl-describe-pod.ts";
import { addLogsCommand } from "./kubectl-logs.ts";
import { ALLOWED_FORMATS, isTemplateFormat, printWithTemplate } from "./kubectl-printers.ts";
import { kubectlTable } from "./kubectl-tables.ts";
import { type DeleteTarget, deleteTargetsFromFile, locateError, prepareForWrite } from "./manifests.ts";
import { checkPatchedObject } from "./patch-checks.ts";
import { checkPatchedKind } from "./patch-identity.ts";
import { replaceUnconditionally, updateWithRetry } from "./retry-update.ts";
import { formatTable, KUBECTL_STYLE } from "./tabwriter.ts";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** Commander's collector for a repeatable option. */
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** `-f` is repeatable (commander would keep only the last), so "required" is checked here, in kubectl's words. */
function requireFilename(o: Common, verb: "apply" | "create" | "replace"): void {
  if (o.filename && o.filename.length > 0) return;
  throw new TortieError(
    "Invalid",
    verb === "apply" ? "must specify one of -f and -k" : `must specify --filename to ${verb}`,
  );
}

/** `service`, `deployment.apps`, `ippool.projectcalico.org`: how kubectl names a kind in its messages. */
export function kubectlKindName(def: KindDef): string {
  return def.group ? `${def.kind.toLowerCase()}.${def.group}` : def.kind.toLowerCase();
}

/** kubectl's wording for errors that come back from the API server. */
export function kubectlErrorText(e: unknown): string {
  if (e instanceof ResourceError) {
    const reason = { NotFound: "NotFound", AlreadyExists: "AlreadyExists", Conflict: "Conflict" }[
      e.code as string
    ];
    if (reason) return `Error from server (${reason}): ${e.message}`;
  }
  if (e instanceof TortieError && e.code === "Invalid") return `error: ${e.message}`;
  return `error: ${(e as Error).message}`;
}

function resolveKind(resource: string): KindDef {
  const def = resolveKubectlResource(resource);
  if (!def) throw new TortieError("Invalid", `the server doesn't have a resource type "${resource}"`);
  return def;
}

/** `svc customer`, `svc/customer`, `svc` → kind and names. */
function parseTarget(args: string[]): { def: KindDef; names: string[] } {
  const [first, ...rest] = args;
  if (!first) throw new TortieError("Usage", "You must specify the type of resource to get.");
  if (first.includes("/")) {
    const [kind, name] = first.split("/", 2) as [string, string];
    return { def: resolveKind(kind), names: [name, ...rest.map((r) => r.split("/").pop()!)] };
  }
  return { def: resolveKind(first), names: rest };
}

function namespaceFor(def: KindDef, ns: string | undefined): string | undefined {
  return def.namespaced ? (ns ?? "default") : undefined;
}

/** kubectl apply's warning (on stderr) before it takes over an object no apply created. */
function missingLastAppliedWarning(resource: string): string {
  return `Warning: resource ${resource} is missing the ${LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.\n`;
}

function lastAppliedText(o: ApiObject): string {
  const copy = structuredClone(o);
  if (copy.metadata.annotations) {
    delete copy.metadata.annotations[LAST_APPLIED];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  return `${toJson(copy, 0)}\n`;
}

/** How `get` prints a table: kubectl's --show-labels, -L/--label-columns and --no-headers. */
interface TableFlags {
  showLabels?: boolean;
  labelColumns?: string[];
  noHeaders?: boolean;
  template?: string;
  /** `--show-managed-fields`: -o yaml/json keep `metadata.managedFields` (kubectl omits them otherwise). */
  showManagedFields?: boolean;
}

/** kubectl's OmitManagedFieldsPrinter: the object without `metadata.managedFields`. */
function withoutManagedFields(o: ApiObject): ApiObject {
  if (!Object.hasOwn(o.metadata, "managedFields")) return o;
  const metadata: Record<string, unknown> = { ...o.metadata };
  delete metadata.managedFields;
  return { ...o, metadata };
}

function printObjects(
  ctx: CliContext,
  def: KindDef,
  objects: ApiObject[],
  output: string | undefined,
  single: boolean,
  withNamespace: boolean,
  flags: TableFlags = {},
) {
  const value = single
    ? objects[0]!
    : { apiVersion: "v1", items: objects, kind: "List", metadata: { resourceVersion: "" } };
  if (output === "yaml" || output === "json") {
    const shown = flags.showManagedFields
      ? value
      : single
        ? withoutManagedFields(objects[0]!)
        : { ...value, items: objects.map(withoutManagedFields) };
    ctx.out(output === "yaml" ? toYaml(shown) : `${toJson(shown, 4)}\n`);
    return;
  }
  if (isTemplateFormat(output)) {
    // kubectl's printers see the objects as decoded JSON (no undefined fields, plain data only).
    const data = JSON.parse(JSON.stringify(value)) as GoData;
    printWithTemplate(ctx, output!, flags.template, data, { noHeaders: flags.noHeaders });
    return;
  }
  if (output === "name") {
    for (const o of objects) ctx.out(`${kubectlKindName(def)}/${o.metadata.name}\n`);
    return;
  }
  if (output !== undefined && output !== "wide")
    throw new TortieError(
      "Usage",
      `unable to match a printer suitable for the output format "${output}", allowed formats are: ${ALLOWED_FORMATS}`,
    );
  const rows = kubectlTable(def, objects, {
    wide: output === "wide",
    withNamespace,
    now: ctx.now(),
    showLabels: !!flags.showLabels,
    labelColumns: flags.labelColumns ?? [],
  });
  ctx.out(formatTable(flags.noHeaders ? rows.slice(1) : rows, KUBECTL_STYLE));
}

/** `kubectl label`'s changes applied to a live object; undefined when they change nothing. */
function relabel(live: ApiObject, changes: string[], overwrite: boolean): ApiObject | undefined {
  const labels = { ...live.metadata.labels };
  for (const change of changes) {
    if (change.endsWith("-") && !change.includes("=")) {
      delete labels[change.slice(0, -1)];
      continue;
    }
    // Split at the first "=" only, so `k=a=b` reaches validation whole instead of losing "=b".
    const eq = change.indexOf("=");
    const key = change.slice(0, eq);
    const value = change.slice(eq + 1);
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) throw new TortieError("Invalid", problem);
    if (key in labels && labels[key] !== value && !overwrite)
      throw new TortieError(
        "Invalid",
        `'${key}' already has a value (${labels[key]}), and --overwrite is false`,
      );
    labels[key] = value;
  }
  if (deepEqual(labels, live.metadata.labels ?? {})) return undefined;
  live.metadata.labels = labels;
  return live;
}

interface Common {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  output?: string;
  filename?: string[];
}

export function kubectlProgram(ctx: CliContext, name = "kubectl"): Command {
  const program = new Command(name).description("kubectl's verbs and output over tortie's store");
  const nsOption = () => new Option("-n, --namespace <ns>", "namespace");

  program
    .command("apply")
    .description("create or update resources from a file, with kubectl's three-way merge")
    .option("-f, --filename <file>", "manifest file or directory, or - for stdin (repeatable)", collect)
    .addOption(nsOption())
    .action(async (o: Common) => {
      requireFilename(o, "apply");
      const store = ctx.store();
      for (const { entry, def, object } of await prepareForWrite(
        ctx,
        o.filename!,
        o.namespace,
        "no objects passed to apply",
      )) {
        try {
          const { name, namespace } = object.metadata;
          const desired = structuredClone(object);
          desired.metadata.annotations = {
            ...desired.metadata.annotations,
            [LAST_APPLIED]: lastAppliedText(object),
          };
          if (!(await store.get(def, name!, namespace))) {
            try {
              await store.create(desired);
              ctx.out(`${kubectlKindName(def)}/${name} created\n`);
              continue;
            } catch (e) {
              // Another writer created it since: apply to that object, as a second apply would.
              if (!(e instanceof ResourceError && e.code === "AlreadyExists")) throw e;
            }
          }
          // The three-way merge is recomputed against the live object on every attempt (another writer's change
          // to fields this manifest never set survives).
          let warned = false;
          const { changed } = await updateWithRetry(store, def, name!, namespace, (live) => {
            const lastText = live.metadata.annotations?.[LAST_APPLIED];
            if (!lastText && !warned) {
              warned = true;
              ctx.err(missingLastAppliedWarning(`${def.plural}/${name}`));
            }
            const last = lastText ? JSON.parse(lastText) : {};
            const merged = threeWayMerge(def.kind, last, desired, live) as ApiObject;
            return deepEqual(merged, live) ? undefined : merged;
          });
          ctx.out(`${kubectlKindName(def)}/${name} ${changed ? "configured" : "unchanged"}\n`);
        } catch (e) {
          throw locateError(entry, e);
        }
      }
    });

  for (const verb of ["create", "replace"] as const) {
    const command = program
      .command(verb)
      .description(
        verb === "create"
          ? "create resources from a file, or: create namespace|serviceaccount|configmap NAME"
          : "replace resources from a file",
      );
    if (verb === "create")
      command
        .argument(
          "[generator...]",
          "namespace NAME | serviceaccount NAME | configmap NAME --from-literal=k=v",
        )
        .option("-f, --filename <file>", "manifest file or directory, or - for stdin (repeatable)", collect)
        .option("--from-literal <key=value>", "configmap: a key and its value (repeatable)", collect, []);
    else
      command.option(
        "-f, --filename <file>",
        "manifest file or directory, or - for stdin (repeatable)",
        collect,
      );
    command.addOption(nsOption()).action(async (...params: unknown[]) => {
      const o = (verb === "create" ? params[1] : params[0]) as Common & { fromLiteral?: string[] };
      const generator = verb === "create" ? (params[0] as string[]) : [];
      if (verb === "create" && !o.filename) {
        await createFromGenerator(ctx, generator, o);
        return;
      }
      requireFilename(o, verb);
      const store = ctx.store();
      // kubectl's builder runs ContinueOnError: every object is tried, and the errors follow, one line each, once
      // the last object has been tried (an AlreadyExists does not stop the objects after it).
      const failures: unknown[] = [];
      for (const { entry, def, object } of await prepareForWrite(
        ctx,
        o.filename!,
        o.namespace,
        `no objects passed to ${verb}`,
      )) {
        try {
          if (verb === "create") await store.create(object);
          // A resourceVersion in the file is the user's precondition (strict); without one the object is replaced
          // whatever its current version.
          else if (object.metadata.resourceVersion !== undefined) await store.update(object);
          else await replaceUnconditionally(store, object);
          ctx.out(
            `${kubectlKindName(def)}/${object.metadata.name} ${verb === "create" ? "created" : "replaced"}\n`,
          );
        } catch (e) {
          if (!(e instanceof TortieError)) throw e;
          if (e instanceof ResourceError)
            failures.push(
              new ResourceError(
                new TortieError(
                  e.code,
                  `error when ${verb === "create" ? "creating" : "replacing"} "${entry.source}": ${e.message}`,
                ),
                e.subject,
              ),
            );
          else failures.push(locateError(entry, e));
        }
      }
      // All but the last are printed here; the last is the command's error (its exit status), printed by main.
      const last = failures.pop();
      for (const e of failures) ctx.err(`${escapeControl(kubectlErrorText(e))}\n`);
      if (last) throw last;
    });
  }

  program
    .command("get")
    .description("list or show resources")
    .argument("<resource...>", "TYPE [NAME...] or TYPE/NAME")
    .addOption(nsOption())
    .option("-A, --all-namespaces", "list across all namespaces")
    .option("-l, --selector <selector>", "label selector")
    .option(
      "-o, --output <format>",
      "yaml|json|wide|name|go-template=…|go-template-file=…|jsonpath=…|jsonpath-file=…|custom-columns=…",
    )
    .option("--template <template>", "the template for -o go-template / jsonpath")
    .option("--show-labels", "a LABELS column with every label")
    .option("-L, --label-columns <keys>", "a column per label key (comma-separated; repeatable)", collect, [])
    .option("--no-headers", "no header row in tables and custom columns")
    .option("--show-managed-fields", "keep metadata.managedFields in -o yaml and -o json")
    .action(async (args: string[], o: Common & TableFlags & { headers?: boolean }) => {
      const store = ctx.store();
      // pflag reads `-o=yaml` as yaml; commander hands over "=yaml".
      if (o.output?.startsWith("=")) o.output = o.output.slice(1);
      const { def, names } = parseTarget(args);
      const ns = o.allNamespaces ? undefined : namespaceFor(def, o.namespace);
      const flags: TableFlags = {
        showLabels: o.showLabels,
        labelColumns: (o.labelColumns ?? []).flatMap((c) => c.split(",")).filter((c) => c !== ""),
        noHeaders: o.headers === false,
        template: o.template,
        showManagedFields: o.showManagedFields,
      };
      if (names.length > 0) {
        const objects = [];
        for (const n of names)
          objects.push(await store.mustGet(def, n, ns ?? namespaceFor(def, o.namespace)));
        printObjects(ctx, def, objects, o.output, names.length === 1, false, flags);
        return;
      }
      const match = o.selector ? parseLabelSelector(o.selector) : () => true;
      const objects = (await store.list(def, ns)).filter((x) => match(x.metadata.labels));
      if (objects.length === 0 && o.output !== "yaml" && o.output !== "json" && !isTemplateFormat(o.output)) {
        ctx.err(def.namespaced && ns ? `No resources found in ${ns} namespace.\n` : "No resources found\n");
        return;
      }
      printObjects(ctx, def, objects, o.output, false, def.namespaced && !!o.allNamespaces, flags);
    });

  program
    .command("delete")
    .description("delete resources by name, label selector, --all, or file")
    .argument("[resource...]", "TYPE NAME... or TYPE/NAME")
    .addOption(nsOption())
    .option("-l, --selector <selector>", "label selector")
    .option("--all", "every object of the kind in the namespace")
    .option("-A, --all-namespaces", "with --all or -l: in every namespace")
    .option("-f, --filename <file>", "manifest file or directory (repeatable)", collect)
    .action(async (args: string[], o: Common & { all?: boolean }) => {
      const store = ctx.store();
      const targets: DeleteTarget[] = o.filename ? deleteTargetsFromFile(ctx, o.filename, o.namespace) : [];
      if (!o.filename) {
        if (o.all && o.selector !== undefined)
          throw new TortieError("Invalid", "setting 'all' parameter but found a non empty selector. ");
        const { def, names } = parseTarget(args);
        const ns = o.allNamespaces ? undefined : namespaceFor(def, o.namespace);
        if (names.length > 0 && (o.all || o.selector !== undefined))
          throw new TortieError("Invalid", "name cannot be provided when a selector is specified");
        if (names.length > 0 && o.allNamespaces && def.namespaced)
          throw new TortieError("Invalid", "a resource cannot be retrieved by name across all namespaces");
        if (o.selector !== undefined || o.all) {
          const match = o.selector !== undefined ? parseLabelSelector(o.selector) : () => true;
          for (const x of await store.list(def, ns))
            if (match(x.metadata.labels))
              targets.push({ def, name: x.metadata.name!, namespace: x.metadata.namespace });
          if (targets.length === 0) ctx.out("No resources found\n");
        } else {
          if (names.length === 0)
            throw new TortieError("Usage", "resource(s) were provided, but no name was specified");
          for (const name of names) targets.push({ def, name, namespace: ns });
        }
      }
      for (const t of targets) {
        await store.delete(t.def, t.name, t.namespace);
        ctx.out(`${t.def.kind.toLowerCase()}${t.def.group ? `.${t.def.group}` : ""} "${t.name}" deleted\n`);
      }
    });

  program
    .command("patch")
    .description("patch a resource in place")
    .argument("<resource...>", "TYPE NAME or TYPE/NAME")
    .addOption(nsOption())
    .requiredOption("-p, --patch <patch>", "the patch, as JSON or YAML")
    .addOption(
      new Option("--type <type>", "patch type").choices(["strategic", "merge", "json"]).default("strategic"),
    )
    .action(async (args: string[], o: Common & { patch: string; type: string }) => {
      const store = ctx.store();
      const { def, names } = parseTarget(args);
      if (names.length !== 1) throw new TortieError("Usage", "patch needs exactly one resource name");
      let patch: unknown;
      try {
        patch = JSON.parse(o.patch);
      } catch (e) {
        throw new TortieError("Invalid", `unable to parse "${o.patch}": ${(e as Error).message}`);
      }
      const isCustom = !(def.group === "" || def.group.endsWith("k8s.io") || def.group === "apps");
      if (o.type === "strategic" && isCustom)
        throw new TortieError(
          "Unsupported",
          `strategic merge patch is not supported for custom resources like ${def.kind}; use --type merge`,
        );
      const ns = namespaceFor(def, o.namespace);
      // As the API server applies a PATCH: to the live object, again to a newer one if another writer won the race.
      const { changed } = await updateWithRetry(store, def, names[0]!, ns, (live) => {
        const patched: unknown =
          o.type === "json"
            ? jsonPatch(live, patch)
            : o.type === "merge"
              ? mergePatch(live, patch)
              : strategicMergePatch(def.kind, live, patch);
        checkPatchedObject(patched, names[0]!, ns);
        checkPatchedKind(def, live, patched);
        if (deepEqual(patched, live)) return undefined;
        patched.apiVersion = apiVersionOf(def);
        patched.kind = def.kind;
        return patched;
      });
      ctx.out(`${kubectlKindName(def)}/${names[0]} patched${changed ? "" : " (no change)"}\n`);
    });

  program
    .command("label")
    .description("add, change or remove labels")
    .argument("<args...>", "TYPE NAME key=value ... key-")
    .addOption(nsOption())
    .option("--overwrite", "allow changing an existing label")
    .action(async (args: string[], o: Common & { overwrite?: boolean }) => {
      const store = ctx.store();
      const split = args.findIndex((a) => a.includes("=") || a.endsWith("-"));
      if (split <= 0) throw new TortieError("Usage", "at least one label update is required");
      const { def, names } = parseTarget(args.slice(0, split));
      if (names.length !== 1) throw new TortieError("Usage", "label needs exactly one resource name");
      const { changed } = await updateWithRetry(
        store,
        def,
        names[0]!,
        namespaceFor(def, o.namespace),
        (live) => relabel(live, args.slice(split), !!o.overwrite),
      );
      ctx.out(`${kubectlKindName(def)}/${names[0]} ${changed ? "labeled" : "not labeled"}\n`);
    });

  program
    .command("describe")
    .description("show a resource's metadata, spec and status")
    .argument("<resource...>", "TYPE NAME")
    .addOption(nsOption())
    .action(async (args: string[], o: Common) => {
      const store = ctx.store();
      const { def, names } = parseTarget(args);
      const objects =
        names.length > 0
          ? await Promise.all(names.map((n) => store.mustGet(def, n, namespaceFor(def, o.namespace))))
          : await store.list(def, namespaceFor(def, o.namespace));
      // kubectl's own describer for pods; the generic layout for every other kind.
      if (def.kind === "Pod" && def.group === "") ctx.out(objects.map(describePodText).join("\n\n"));
      else ctx.out(objects.map(describeText).join("\n\n\n"));
    });

  addClusterCommands(program, ctx);
  addLogsCommand(program, ctx);
  program
    .command("exec")
    .description("run a command in a pod's network namespace: exec POD [-n NS] -- CMD")
    .argument("<pod>", "POD or pod/POD")
    .argument("<command...>", "the command after --")
    .addOption(nsOption())
    .option("-c, --container <name>", "container (each sample pod has one)")
    .option("-i, --stdin", "accepted for compatibility")
    .option("-t, --tty", "accepted for compatibility")
    .action(async (pod: string, command: string[], o: Common) => {
      const target = `${o.namespace ?? "default"}/${pod.replace(/^pods?\//, "")}`;
      // Loaded here: the dataplane's modules cost every other kubectl command nothing.
      const { execCommand } = await import("./shell.ts");
      const code = await execCommand(ctx, target, command);
      if (code !== 0) {
        // kubectl's own line after the command's output (the exit code comes back in the stream's Status).
        ctx.err(`command terminated with exit code ${code}\n`);
        throw new CommandExit(code);
      }
    });

  return program;
}

function mapLines(title: string, m: Record<string, string> | undefined): string {
  const entries = Object.entries(m ?? {})
    .filter(([k]) => k !== LAST_APPLIED)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return `${title.padEnd(14)}<none>\n`;
  return entries.map(([k, v], i) => `${(i === 0 ? title : "").padEnd(14)}${k}=${v}\n`).join("");
}

/** A describe view: metadata in kubectl's layout, then spec and status as YAML. */
function describeText(o: ApiObject): string {
  let text = `${"Name:".padEnd(14)}${o.metadata.name}\n`;
  if (o.metadata.namespace) text += `${"Namespace:".padEnd(14)}${o.metadata.namespace}\n`;
  text += mapLines("Labels:", o.metadata.labels);
  text += mapLines("Annotations:", o.metadata.annotations);
  text += `${"API Version:".padEnd(14)}${o.apiVersion}\n${"Kind:".padEnd(14)}${o.kind}\n`;
  text += `${"Created:".padEnd(14)}${o.metadata.creationTimestamp ?? "<unknown>"}\n`;
  const { apiVersion: _a, kind: _k, metadata: _m, ...body } = o;
  for (const [k, v] of Object.entries(body)) {
    text += `${k[0]!.toUpperCase()}${k.slice(1)}:\n${toYaml(v).replace(/^/gm, "  ").trimEnd()}\n`;
  }
  return text;
}
