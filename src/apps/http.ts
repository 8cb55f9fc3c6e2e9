/** Just enough HTTP/1.1 for the sample apps: one request line, headers, a body. */
export interface HttpRequest {
  method: string;
  path: string;
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

export function parseRequest(text: string): HttpRequest | undefined {
  const [head] = text.split("\r\n\r\n");
  const lines = (head ?? "").split("\r\n");
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { method: m[1]!, path: m[2]!, headers };
}

export function formatResponse(r: HttpResponse): string {
  const headers = { ...r.headers, "Content-Length": `${Buffer.byteLength(r.body)}` };
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
