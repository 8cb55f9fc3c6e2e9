import type { AppListener } from "./app.ts";
import { formatResponse, parseRequest, parseResponse } from "./http.ts";

/** The accounts YAO Bank's database holds (the page the labs show is Spike Curtis's). */
const ACCOUNTS = [
  { id: "1", name: "Spike Curtis", balance: 2389.45 },
  { id: "2", name: "Alex Pollitt", balance: 1203.88 },
  { id: "3", name: "Casey Davenport", balance: 8291.04 },
];

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function two(n: number): string {
  return `${n}`.padStart(2, "0");
}

/** Werkzeug's access-log time: `21/Nov/2026 10:04:05`. */
function werkzeugTime(d: Date): string {
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

function notFound(): string {
  return formatResponse({
    status: 404,
    reason: "NOT FOUND",
    headers: { "Content-Type": "text/html" },
    body: "Not Found\n",
  });
}

function serverError(message: string): string {
  return formatResponse({
    status: 500,
    reason: "INTERNAL SERVER ERROR",
    headers: { "Content-Type": "text/html" },
    body: `<h1>Internal Server Error</h1>\n<p>${message}</p>\n`,
  });
}

/** etcd's v2 keys API over the accounts: `/v2/keys?recursive=true` dumps everything. */
export const yaobankDatabase: AppListener = {
  protocol: "tcp",
  port: 2379,
  handle(req) {
    const r = parseRequest(req.payload);
    if (!r) return undefined;
    const [path] = r.path.split("?");
    const nodes = ACCOUNTS.map((a, i) => ({
      key: `/accounts/${a.id}`,
      value: JSON.stringify({ name: a.name, balance: a.balance }),
      modifiedIndex: 4 + i,
      createdIndex: 4 + i,
    }));
    const accounts = { key: "/accounts", dir: true, nodes, modifiedIndex: 4, createdIndex: 4 };
    let node: unknown;
    if (path === "/v2/keys" || path === "/v2/keys/") node = { dir: true, nodes: [accounts] };
    else if (path === "/v2/keys/accounts") node = accounts;
    else node = nodes.find((n) => n.key === path!.slice("/v2/keys".length));
    if (!node)
      return formatResponse({
        status: 404,
        reason: "Not Found",
        headers: { "Content-Type": "application/json" },
        body: `${JSON.stringify({ errorCode: 100, message: "Key not found", cause: path!.slice(8), index: 7 })}\n`,
      });
    return formatResponse({
      status: 200,
      reason: "OK",
      headers: { "Content-Type": "application/json", "X-Etcd-Index": "7" },
      body: `${JSON.stringify({ action: "get", node })}\n`,
    });
  },
};

/** summary: reads the logged-in customer's account from the database service. */
export const yaobankSummary: AppListener = {
  protocol: "tcp",
  port: 80,
  handle(req, env) {
    const r = parseRequest(req.payload);
    if (!r) return undefined;
    if (r.path !== "/") return notFound();
    const got = env.fetch("http://database:2379/v2/keys/accounts/1");
    if (!got.ok) return serverError(`database: ${got.error}`);
    // The real app's requests.get(...).json() raises on an error page; Flask answers 500.
    if (got.status !== 200) return serverError(`database: HTTP ${got.status}`);
    const account = JSON.parse(JSON.parse(got.body).node.value);
    env.log(`${req.clientIp} - - [${werkzeugTime(env.now())}] "GET / HTTP/1.1" 200 -`);
    return formatResponse({
      status: 200,
      reason: "OK",
      headers: { "Content-Type": "application/json" },
      body: `${JSON.stringify(account)}\n`,
    });
  },
};

/** customer: the web front end; logs each request's client address, which is how the labs show SNAT. */
export const yaobankCustomer: AppListener = {
  protocol: "tcp",
  port: 80,
  handle(req, env) {
    const r = parseRequest(req.payload);
    if (!r) return undefined;
    if (r.path !== "/") {
      env.log(`${req.clientIp} - - [${werkzeugTime(env.now())}] "${r.method} ${r.path} HTTP/1.1" 404 -`);
      return notFound();
    }
    const got = env.fetch("http://summary/");
    if (!got.ok) {
      env.log(`${req.clientIp} - - [${werkzeugTime(env.now())}] "GET / HTTP/1.1" 500 -`);
      return serverError(`summary: ${got.error}`);
    }
    if (got.status !== 200) {
      env.log(`${req.clientIp} - - [${werkzeugTime(env.now())}] "GET / HTTP/1.1" 500 -`);
      return serverError(`summary: HTTP ${got.status}`);
    }
    const account = JSON.parse(got.body) as { name: string; balance: number };
    env.log(`${req.clientIp} - - [${werkzeugTime(env.now())}] "GET / HTTP/1.1" 200 -`);
    const body = [
      "<body>",
      "  <h1>Welcome to YAO Bank</h1>",
      `  <h2>Name: ${account.name}</h2>`,
      `  <h2>Balance: ${account.balance}</h2>`,
      '  <p><a href="/logout">Log Out >></a></p>',
      "</body>",
      "",
    ].join("\n");
    return formatResponse({
      status: 200,
      reason: "OK",
      headers: { "Content-Type": "text/html; charset=utf-8" },
      body,
    });
  },
};

export { parseResponse };
