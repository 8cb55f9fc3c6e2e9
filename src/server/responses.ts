import { type StatusError, statusBody } from "./status.ts";

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function statusResponse(e: StatusError): Response {
  return jsonResponse(statusBody(e), e.code);
}

/** Whether the client asked for a `meta.k8s.io` Table (kubectl get's default). */
export function wantsTable(accept: string | null): boolean {
  return (accept ?? "").split(",").some((part) => {
    const params = part.split(";").map((p) => p.trim().replace(/\s+/g, ""));
    return params.includes("as=Table") && params.includes("g=meta.k8s.io") && params.includes("v=v1");
  });
}
