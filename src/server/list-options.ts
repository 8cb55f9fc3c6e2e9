/**
 * A list request's ListOptions from its query, checked as the API server checks them, with its words:
 * - integers (`limit`, `timeoutSeconds`) are decoded by Go's strconv.ParseInt (apimachinery's
 *   Convert_Slice_string_To_int64); a bad one is a 400 with strconv's text (`strconv.ParseInt: parsing "abc":
 *   invalid syntax`);
 * - `resourceVersionMatch` and `sendInitialEvents` go through metainternalversion's ValidateListOptions, a 422
 *   Invalid on `ListOptions.meta.k8s.io ""`;
 * - `resourceVersion` is parsed by the storage's versioner (strconv.ParseUint): a 400 `invalid resource version:
 *   resourceVersion: Invalid value: "abc": …`.
 */
import { UnsupportedError } from "../lib/index.ts";
import { badRequest, type StatusCause, StatusError } from "./status.ts";

const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

export interface ListOptions {
  resourceVersion?: bigint;
  resourceVersionMatch?: "Exact" | "NotOlderThan";
  limit?: number;
  timeoutSeconds?: number;
}

/** Go's strconv.ParseInt(text, 10, 64) for a query parameter, as the API server decodes one; "" is absent. */
export function int64Param(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null || text === "") return undefined;
  if (!/^[+-]?\d+$/.test(text))
    throw badRequest(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
  const value = BigInt(text);
  if (value > INT64_MAX || value < -INT64_MAX - 1n)
    throw badRequest(`strconv.ParseInt: parsing ${goQuote(text)}: value out of range`);
  return Number(value);
}

/** The storage versioner's ParseResourceVersion: "" and "0" mean any, else an unsigned 64-bit revision. */
function parseResourceVersion(text: string): bigint {
  const invalid = (why: string) =>
    badRequest(
      `invalid resource version: resourceVersion: Invalid value: ${goQuote(text)}: strconv.ParseUint: parsing ${goQuote(text)}: ${why}`,
    );
  if (!/^\d+$/.test(text)) throw invalid("invalid syntax");
  const value = BigInt(text);
  if (value > UINT64_MAX) throw invalid("value out of range");
  return value;
}

/** A list's options, or the API server's refusal of them. */
export function listOptionsOf(query: URLSearchParams): ListOptions {
  const options: ListOptions = {};
  const limit = int64Param(query, "limit");
  if (limit !== undefined) options.limit = limit;
  const timeoutSeconds = int64Param(query, "timeoutSeconds");
  if (timeoutSeconds !== undefined) options.timeoutSeconds = timeoutSeconds;

  const rv = query.get("resourceVersion") ?? "";
  const match = query.get("resourceVersionMatch") ?? "";
  const causes: StatusCause[] = [];
  const forbidden = (field: string, message: string) =>
    causes.push({ reason: "FieldValueForbidden", message: `Forbidden: ${message}`, field });
  if (match !== "") {
    if (rv === "")
      forbidden(
        "resourceVersionMatch",
        "resourceVersionMatch is forbidden unless resourceVersion is provided",
      );
    if ((query.get("continue") ?? "") !== "")
      forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
    if (match !== "Exact" && match !== "NotOlderThan")
      causes.push({
        reason: "FieldValueNotSupported",
        message: `Unsupported value: ${goQuote(match)}: supported values: "Exact", "NotOlderThan", ""`,
        field: "resourceVersionMatch",
      });
    if (match === "Exact" && rv === "0")
      forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  if (query.has("sendInitialEvents"))
    forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list");
  if (causes.length > 0) throw invalidListOptions(causes);

  if (rv !== "") options.resourceVersion = parseResourceVersion(rv);
  if (match === "Exact" || match === "NotOlderThan") options.resourceVersionMatch = match;
  return options;
}

/**
 * A list at exactly `resourceVersion`: served when that is the store's revision now. The store keeps no
 * snapshots of the past to list from (the API server reads etcd at that revision), so any other revision is
 * refused plainly, not answered with today's objects.
 */
export function checkExactRevision(options: ListOptions, revision: number): void {
  if (options.resourceVersionMatch !== "Exact" || options.resourceVersion === BigInt(revision)) return;
  throw new UnsupportedError(
    `resourceVersionMatch=Exact at a resourceVersion other than the current one (${options.resourceVersion} asked, ${revision} now)`,
  );
}

/** apimachinery's NewInvalid for ListOptions: one error as it is, several in brackets. */
function invalidListOptions(causes: StatusCause[]): StatusError {
  const texts = causes.map((c) => `${c.field}: ${c.message}`);
  const detail = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  return new StatusError(422, "Invalid", `ListOptions.meta.k8s.io "" is invalid: ${detail}`, {
    group: "meta.k8s.io",
    kind: "ListOptions",
    causes,
  });
}

/** Go's %q for the texts quoted here (strconv quotes them so). */
function goQuote(text: string): string {
  return JSON.stringify(text);
}
