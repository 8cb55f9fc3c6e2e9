import type { ApiObject } from "../api/index.ts";
import { escapeControl, TortieError, UnsupportedError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";

/** kubectl create's other generators: they exist in kubectl, tortie does not build them yet. */
const NOT_BUILT = new Set([
  "clusterrole",
  "clusterrolebinding",
  "cronjob",
  "deployment",
  "deploy",
  "ingress",
  "ing",
  "job",
  "poddisruptionbudget",
  "pdb",
  "priorityclass",
  "pc",
  "quota",
  "resourcequota",
  "role",
  "rolebinding",
  "secret",
  "service",
  "svc",
  "token",
]);

function oneName(args: string[], generator: string): string {
  if (args.length !== 1)
    throw new TortieError(
      "Invalid",
      `exactly one NAME is required, got ${args.length}\nSee 'kubectl create ${generator} -h' for help and examples`,
      { multiline: true },
    );
  return args[0]!;
}

/** `--from-literal=k=v` → data, with kubectl's checks (a `=`, a valid key, no key twice). */
function literalData(literals: string[], name: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const lit of literals) {
    const i = lit.indexOf("=");
    if (i <= 0) throw new TortieError("Invalid", `invalid literal source ${lit}, expected key=value`);
    const key = lit.slice(0, i);
    if (!/^[-._a-zA-Z0-9]+$/.test(key) || key.length > 253 || key === "." || key === "..")
      throw new TortieError(
        "Invalid",
        `"${key}" is not a valid key name for a ConfigMap: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
      );
    if (key in data)
      throw new TortieError(
        "Invalid",
        `cannot add key ${key}, another key by that name already exists in Data for ConfigMap "${name}"`,
      );
    data[key] = lit.slice(i + 1);
  }
  return data;
}

/**
 * `kubectl create namespace|serviceaccount|configmap NAME`: the object kubectl's generator builds,
 * created through the API server's rules (so an existing name is `Error from server (AlreadyExists)`).
 */
export async function createFromGenerator(
  ctx: CliContext,
  args: string[],
  o: { namespace?: string; fromLiteral?: string[] },
): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === undefined) throw new TortieError("Invalid", "must specify one of -f and -k");
  const ns = o.namespace ?? "default";
  let object: ApiObject;
  let printed: string;
  switch (kind) {
    case "namespace":
    case "ns": {
      const name = oneName(rest, "namespace");
      object = { apiVersion: "v1", kind: "Namespace", metadata: { name } };
      printed = `namespace/${name}`;
      break;
    }
    case "serviceaccount":
    case "sa": {
      const name = oneName(rest, "serviceaccount");
      object = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: ns } };
      printed = `serviceaccount/${name}`;
      break;
    }
    case "configmap":
    case "cm": {
      const name = oneName(rest, "configmap");
      const data = literalData(o.fromLiteral ?? [], name);
      object = { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns } };
      if (Object.keys(data).length > 0) object.data = data;
      printed = `configmap/${name}`;
      break;
    }
    default:
      if (NOT_BUILT.has(kind)) throw new UnsupportedError(`kubectl create ${kind}`);
      throw new TortieError(
        "Invalid",
        // The usage hint is a line of its own; what was typed stays on the first (a newline in it escaped).
        `Unexpected args: [${escapeControl(args.join(" "))}]
See 'kubectl create -h' for help and examples`,
        { multiline: true },
      );
  }
  if (o.fromLiteral?.length && object.kind !== "ConfigMap")
    throw new TortieError("Usage", "unknown flag: --from-literal");
  await ctx.store().create(object);
  ctx.out(`${printed} created\n`);
}
