/** Just enough HTTP/1.1 for the sample apps: one request line, headers, a body. */
export interface HttpRequest {
  method: string;
  path: string;
  /** `HTTP/1.0` or `HTTP/1.1`, as the request line says. */
  version: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

export function formatRequest(method: string, host: string, path: string): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`;
}

/**
 * Where a request's head ends: its first empty line. Lines end in CRLF or, as nginx also accepts them, a bare
 * LF. `head` is the length of the head without its last line end, `body` where the body starts.
 */
export function requestHeadEnd(text: string): { head: number; body: number } | undefined {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? { head: m.index, body: m.index + m[0].length } : undefined;
}

export function parseRequest(text: string): HttpRequest | undefined {
  const end = requestHeadEnd(text);
  const lines = text.slice(0, end?.head ?? text.length).split(/\r?\n/);
  const m = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { method: m[1]!, path: m[2]!, version: m[3]!, headers };
}

/**
 * Whether the connection stays open after the answer, as nginx decides it (ngx_http_handler): HTTP/1.1 keeps
 * it unless `Connection` holds "close", HTTP/1.0 closes it unless `Connection` holds "keep-alive".
 */
export function keepsAlive(r: HttpRequest): boolean {
  const connection = (r.headers.connection ?? "").toLowerCase();
  if (connection.includes("close")) return false;
  if (connection.includes("keep-alive")) return true;
  return r.version !== "HTTP/1.0";
}

/** The answer's bytes: Content-Length after the given headers but before `Connection`, in nginx's order. */
export function formatResponse(r: HttpResponse): string {
  const { Connection: connection, ...rest } = r.headers;
  const headers: Record<string, string> = { ...rest, "Content-Length": `${Buffer.byteLength(r.body)}` };
  if (connection !== undefined) headers.Connection = connection;
  const lines = [
    `HTTP/1.1 ${r.status} ${r.reason}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${r.body}`;
}

export function parseResponse(text: string): HttpResponse | undefined {
  const sep = text.indexOf("\r\n\r\n");
  if (sep < 0) return undefined;
  const lines = text.slice(0, sep).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), reason: m[2]!, headers, body: text.slice(sep + 4) };
}
