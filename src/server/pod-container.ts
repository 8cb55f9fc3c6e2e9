import type { ApiObject } from "../api/index.ts";
import { StatusError } from "./status.ts";

/**
 * The container a `pods/log` or `pods/exec` request means, checked as the API server's streamLocation checks it:
 * the named one must exist; without a name, a pod's only container is meant, and a pod with more needs one.
 */
export function podContainer(pod: ApiObject, requested: string | undefined): string | undefined {
  const name = pod.metadata.name ?? "";
  const containers = [
    ...((pod.spec?.containers ?? []) as { name: string }[]),
    ...((pod.spec?.initContainers ?? []) as { name: string }[]),
  ].map((c) => c.name);
  if (requested !== undefined) {
    if (!containers.includes(requested))
      throw new StatusError(400, "BadRequest", `container ${requested} is not valid for pod ${name}`);
    return requested;
  }
  const regular = ((pod.spec?.containers ?? []) as { name: string }[]).map((c) => c.name);
  if (regular.length > 1)
    throw new StatusError(
      400,
      "BadRequest",
      `a container name must be specified for pod ${name}, choose one of: [${regular.join(" ")}]`,
    );
  return regular[0];
}

/** A boolean query parameter (false when absent), as the API server decodes it: `watch=True` is true. */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  const text = query.get(name);
  return text === null ? false : parseBoolParam(name, text);
}

/** strconv.ParseBool, as the API server decodes boolean query parameters. */
export function parseBoolParam(name: string, text: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new StatusError(400, "BadRequest", `${name}: strconv.ParseBool: parsing "${text}": invalid syntax`);
}
