import { controlKinds } from "../control/index.ts";
import type { PodLogRequest, ServerHost } from "./host.ts";
import { parseBoolParam, podContainer } from "./pod-container.ts";
import { StatusError, statusBody, toStatusError } from "./status.ts";

function parseInt64(name: string, text: string): number {
  if (!/^[+-]?\d+$/.test(text))
    throw new StatusError(400, "BadRequest", `${name}: strconv.ParseInt: parsing "${text}": invalid syntax`);
  return Number(text);
}

/** ValidatePodLogOptions' refusals, as the API server words an Invalid PodLogOptions. */
function invalid(pod: string, field: string, value: number, rule: string): StatusError {
  return new StatusError(
    422,
    "Invalid",
    `PodLogOptions "${pod}" is invalid: ${field}: Invalid value: ${value}: ${rule}`,
    {
      name: pod,
      kind: "PodLogOptions",
      causes: [{ reason: "FieldValueInvalid", message: `Invalid value: ${value}: ${rule}`, field }],
    },
  );
}

/** What a `pods/log` request asks for, from its query (PodLogOptions), checked as the API server checks it. */
export interface PodLogQuery extends PodLogRequest {
  follow: boolean;
  limitBytes?: number;
}

/**
 * `sinceTime` (RFC 3339) is turned into whole seconds before `now`, rounded up so the moment itself is included;
 * a time not yet reached asks for nothing (`sinceSeconds` 0, which only this conversion produces).
 */
export function parseLogQuery(
  namespace: string,
  pod: string,
  query: URLSearchParams,
  now: Date,
): PodLogQuery {
  const request: PodLogQuery = { namespace, pod, follow: false };
  const text = (name: string) => query.get(name) ?? undefined;
  const container = text("container");
  if (container) request.container = container;
  for (const flag of ["follow", "timestamps", "previous"] as const) {
    const value = text(flag);
    if (value !== undefined) request[flag] = parseBoolParam(flag, value);
  }
  const tail = text("tailLines");
  if (tail !== undefined) {
    request.tailLines = parseInt64("tailLines", tail);
    if (request.tailLines < 0)
      throw invalid(pod, "tailLines", request.tailLines, "must be greater than or equal to 0");
  }
  const since = text("sinceSeconds");
  if (since !== undefined) {
    request.sinceSeconds = parseInt64("sinceSeconds", since);
    if (request.sinceSeconds < 1)
      throw invalid(pod, "sinceSeconds", request.sinceSeconds, "must be greater than 0");
  }
  if (text("sinceTime") !== undefined && since !== undefined)
    throw new StatusError(
      422,
      "Invalid",
      `PodLogOptions "${pod}" is invalid: : Forbidden: at most one of \`sinceTime\` or \`sinceSeconds\` may be specified`,
    );
  const sinceTime = text("sinceTime");
  if (sinceTime !== undefined) {
    const at = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(sinceTime)
      ? Date.parse(sinceTime)
      : NaN;
    if (Number.isNaN(at))
      throw new StatusError(
        400,
        "BadRequest",
        `sinceTime: parsing time "${sinceTime}": not an RFC 3339 time`,
      );
    request.sinceSeconds = Math.max(0, Math.ceil((now.getTime() - at) / 1000));
  }
  const limit = text("limitBytes");
  if (limit !== undefined) {
    request.limitBytes = parseInt64("limitBytes", limit);
    if (request.limitBytes < 1)
      throw invalid(pod, "limitBytes", request.limitBytes, "must be greater than 0");
  }
  return request;
}

function failure(e: StatusError): Response {
  return new Response(JSON.stringify(statusBody(e)), {
    status: e.code,
    headers: { "content-type": "application/json" },
  });
}

/**
 * `GET /api/v1/namespaces/NS/pods/NAME/log`: the container's log as text/plain. The pod and container are checked
 * first, with the API server's messages; `follow` is refused, since the host hands back finished text only.
 */
export async function podLogResponse(
  host: ServerHost,
  namespace: string,
  pod: string,
  query: URLSearchParams,
): Promise<Response> {
  try {
    const request = parseLogQuery(namespace, pod, query, host.now());
    const object = await host.store.mustGet(controlKinds.Pod, pod, namespace);
    const container = podContainer(object, request.container);
    if (container !== undefined) request.container = container;
    if (request.follow) throw new StatusError(400, "BadRequest", "not supported yet: follow");
    const { follow: _follow, limitBytes, ...logRequest } = request;
    let text = logRequest.sinceSeconds === 0 ? "" : await host.podLogs(logRequest);
    if (limitBytes !== undefined) text = Buffer.from(text).subarray(0, limitBytes).toString("utf8");
    return new Response(text, { status: 200, headers: { "content-type": "text/plain" } });
  } catch (e) {
    return failure(toStatusError(e));
  }
}
