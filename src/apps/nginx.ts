import type { AppListener } from "./app.ts";
import { formatResponse, keepsAlive, parseRequest } from "./http.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const WELCOME = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`;

function nginxTime(d: Date): string {
  const two = (n: number) => `${n}`.padStart(2, "0");
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/**
 * nginx's default server: the welcome page on `/`, 404 elsewhere, one access-log line per request in the
 * image's `main` format (`"$request"` is the request line as sent; `$body_bytes_sent` is 0 for HEAD, whose
 * answer has no body). The status line is always HTTP/1.1; like ngx_http_header_filter, a connection that
 * closes after the answer (HTTP/1.0 without keep-alive, or `Connection: close`) says `Connection: close` after
 * Content-Length, and an HTTP/1.0 request kept alive gets `Connection: keep-alive`.
 */
export const nginx: AppListener = {
  protocol: "tcp",
  port: 80,
  handle(req, env) {
    const r = parseRequest(req.payload);
    if (!r) return undefined;
    const found = r.path === "/" || r.path === "/index.html";
    const body = found
      ? WELCOME
      : "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.27.0</center>\r\n</body>\r\n</html>\r\n";
    const sent = r.method === "HEAD" ? 0 : Buffer.byteLength(body);
    env.log(
      `${req.clientIp} - - [${nginxTime(env.now())}] "${r.method} ${r.path} ${r.version}" ${found ? 200 : 404} ${sent} "-" "${r.headers["user-agent"] ?? "-"}" "-"`,
    );
    const headers: Record<string, string> = { Server: "nginx/1.27.0", "Content-Type": "text/html" };
    const keep = keepsAlive(r);
    // The sim's HTTP/1.1 answers leave out nginx's `Connection: keep-alive` (and Date, ETag, …): see the docs.
    if (!keep) headers.Connection = "close";
    else if (r.version === "HTTP/1.0") headers.Connection = "keep-alive";
    return formatResponse({ status: found ? 200 : 404, reason: found ? "OK" : "Not Found", headers, body });
  },
};
