// `tortie internal serve-app` as the linux dataplane runs it: real processes in network namespaces this test
// creates (a hub with a bridge, one namespace per app joined to it by a veth), reached with the real curl and dig.
// YAO Bank's customer → summary → database chain crosses three processes in three namespaces, names resolved by
// glibc through /etc/netns/<ns>/resolv.conf against the DNS process. Root only; skipped with a message otherwise.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { bash, run } from "../kernel/kernel-run.ts";

const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const fixture = new URL("../fixtures/apps/dns-zone.json", import.meta.url).pathname;
const prefix = `tt3-${process.pid}`;
const HUB = `${prefix}-hub`;
const HUB_IP = "192.0.2.1";
/** The app namespaces and their addresses (the zone fixture names summary .11 and database .12). */
const APPS = {
  dns: "192.0.2.53",
  cust: "192.0.2.10",
  summ: "192.0.2.11",
  db: "192.0.2.12",
  web: "192.0.2.80",
} as const;
type App = keyof typeof APPS;
const ns = (app: App) => `${prefix}-${app}`;

function unavailable(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root (the apps bind ports 53 and 80 in network namespaces)";
  const missing = ["ip", "curl", "dig", "ss"].filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
  );
  return missing.length ? `missing ${missing.join(", ")}` : undefined;
}

const skip = unavailable();
if (skip) console.log(`# skipped: serve-app on real sockets: ${skip}`);

interface AppProcess {
  proc: ChildProcess;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const processes: AppProcess[] = [];
let dir = "";

function startApp(app: App, args: string[]): AppProcess {
  const proc = spawn(
    "ip",
    ["netns", "exec", ns(app), process.execPath, bin, "internal", "serve-app", ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TORTIE_SOURCES: "1" },
    },
  );
  const p: AppProcess = {
    proc,
    stderr: "",
    exit: new Promise((resolve) => proc.on("close", (code, signal) => resolve({ code, signal }))),
  };
  proc.stderr!.on("data", (d) => {
    p.stderr += d;
  });
  proc.stdout!.resume();
  processes.push(p);
  return p;
}

/** Waits until `ss` in the namespace shows the port listening (or the process died). */
async function listening(app: App, p: AppProcess, proto: "t" | "u", port: number): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    const r = await run("ip", ["netns", "exec", ns(app), "ss", `-Hln${proto}`, `sport = :${port}`]);
    if (r.out.trim()) return;
    if (p.proc.exitCode !== null) throw new Error(`${app} exited ${p.proc.exitCode}: ${p.stderr}`);
    if (Date.now() > deadline) throw new Error(`${app} is not listening on ${port}: ${p.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const inHub = (cmd: string[], timeoutMs = 20000) => run("ip", ["netns", "exec", HUB, ...cmd], { timeoutMs });
const logOf = (app: App) => readFileSync(join(dir, `${app}.log`), "utf8");

async function cleanup(): Promise<void> {
  for (const p of processes)
    if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
  await Promise.all(processes.map((p) => p.exit));
  for (const app of Object.keys(APPS) as App[]) {
    await run("ip", ["netns", "del", ns(app)]);
    rmSync(`/etc/netns/${ns(app)}`, { recursive: true, force: true });
  }
  await run("ip", ["netns", "del", HUB]);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  copyFileSync(fixture, join(dir, "zone.json"));
  try {
    let script = `set -e\nip netns add ${HUB}\nip -n ${HUB} link set lo up\n`;
    script += `ip -n ${HUB} link add br0 type bridge\nip -n ${HUB} addr add ${HUB_IP}/24 dev br0\nip -n ${HUB} link set br0 up\n`;
    for (const [app, ip] of Object.entries(APPS) as [App, string][]) {
      script += `ip netns add ${ns(app)}\nip -n ${ns(app)} link set lo up\n`;
      script += `ip -n ${HUB} link add h-${app} type veth peer name eth0 netns ${ns(app)}\n`;
      script += `ip -n ${HUB} link set h-${app} master br0 up\n`;
      script += `ip -n ${ns(app)} addr add ${ip}/24 dev eth0\nip -n ${ns(app)} link set eth0 up\n`;
    }
    await bash(script);
    // The pods' ClusterFirst resolv.conf, which `ip netns exec` bind-mounts over /etc/resolv.conf.
    for (const app of ["cust", "summ"] as const) {
      mkdirSync(`/etc/netns/${ns(app)}`, { recursive: true });
      writeFileSync(
        `/etc/netns/${ns(app)}/resolv.conf`,
        `search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${APPS.dns}\noptions ndots:5\n`,
      );
    }
    const dns = startApp("dns", [
      "--image",
      "registry.k8s.io/coredns/coredns:v1.11.1",
      "--zone",
      join(dir, "zone.json"),
    ]);
    const started: [App, AppProcess, number][] = [
      [
        "db",
        startApp("db", ["--image", "calico/yaobank-database:certification", "--log", join(dir, "db.log")]),
        2379,
      ],
      [
        "summ",
        startApp("summ", ["--image", "calico/yaobank-summary:certification", "--log", join(dir, "summ.log")]),
        80,
      ],
      [
        "cust",
        startApp("cust", [
          "--image",
          "calico/yaobank-customer:certification",
          "--log",
          join(dir, "cust.log"),
        ]),
        80,
      ],
      ["web", startApp("web", ["--image", "nginx:1.27", "--log", join(dir, "web.log")]), 80],
    ];
    await listening("dns", dns, "u", 53);
    await listening("dns", dns, "t", 53);
    for (const [app, p, port] of started) await listening(app, p, "t", port);
  } catch (e) {
    await cleanup();
    throw e;
  }
});

after(async () => {
  if (!skip) await cleanup();
});

test("nginx answers its welcome page and logs the real client address", { skip }, async () => {
  const r = await inHub(["curl", "-s", "-i", `http://${APPS.web}/`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r.out, /<h1>Welcome to nginx!<\/h1>/);
  const missing = await inHub([
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `http://${APPS.web}/nope`,
  ]);
  assert.equal(missing.out, "404");
  const log = logOf("web").trimEnd().split("\n");
  assert.equal(log.length, 2);
  assert.match(
    log[0]!,
    new RegExp(`^${HUB_IP.replaceAll(".", "\\.")} - - \\[.+\\] "GET / HTTP/1.1" 200 615 "-" "curl/`),
  );
  assert.match(log[1]!, /"GET \/nope HTTP\/1.1" 404 /);
  // Two requests on one connection: the connection stays open after the first answer, as the sim's does.
  const twice = await inHub([
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "-o",
    "/dev/null",
    "-w",
    "%{num_connects}\\n",
    `http://${APPS.web}/`,
    `http://${APPS.web}/`,
  ]);
  assert.equal(twice.out, "1\n0\n");
});

test("nginx answers HTTP/1.0, HEAD and bare-LF requests on a real socket as nginx does", {
  skip,
}, async () => {
  const before = logOf("web").trimEnd().split("\n").length;
  const r = await inHub(["curl", "-s", "-i", "--http1.0", `http://${APPS.web}/`]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^HTTP\/1\.1 200 OK\r\nServer: nginx\/1\.27\.0\r\nContent-Type: text\/html\r\nContent-Length: 615\r\nConnection: close\r\n\r\n<!DOCTYPE html>/,
  );
  const head = await inHub(["curl", "-s", "-I", `http://${APPS.web}/`]);
  assert.equal(head.code, 0, head.err);
  assert.match(head.out, /\r\nContent-Length: 615\r\n\r\n$/);
  // A request with bare LF line ends is answered, and the connection closes after the HTTP/1.0 answer: cat ends
  // at the server's FIN, not at this command's timeout.
  const lf = await inHub(
    [
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${APPS.web}/80; printf 'GET /nope HTTP/1.0\\nUser-Agent: lf\\n\\n' >&3; cat <&3`,
    ],
    5000,
  );
  assert.equal(lf.code, 0, lf.err);
  assert.match(
    lf.out,
    /^HTTP\/1\.1 404 Not Found\r\n[\s\S]*\r\nConnection: close\r\n\r\n<html>[\s\S]*<\/html>\r\n$/,
  );
  const log = logOf("web").trimEnd().split("\n").slice(before);
  assert.equal(log.length, 3, log.join("\n"));
  assert.match(log[0]!, /"GET \/ HTTP\/1\.0" 200 615 "-" "curl\//);
  assert.match(log[1]!, /"HEAD \/ HTTP\/1\.1" 200 0 "-" "curl\//);
  assert.match(log[2]!, /"GET \/nope HTTP\/1\.0" 404 153 "-" "lf" "-"$/);
});

test("YAO Bank: customer → summary → database across three namespaces, names from the DNS process", {
  skip,
}, async () => {
  const r = await inHub(["curl", "-s", "--max-time", "20", `http://${APPS.cust}/`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /<h1>Welcome to YAO Bank<\/h1>/);
  assert.match(r.out, /Name: Spike Curtis/);
  assert.match(r.out, /Balance: 2389.45/);
  // Each app logs the address its socket saw: the hub's for the customer, the customer pod's for summary.
  assert.match(
    logOf("cust"),
    new RegExp(`^${HUB_IP.replaceAll(".", "\\.")} - - \\[.+\\] "GET / HTTP/1.1" 200 -\\n$`),
  );
  assert.match(
    logOf("summ"),
    new RegExp(`^${APPS.cust.replaceAll(".", "\\.")} - - \\[.+\\] "GET / HTTP/1.1" 200 -\\n$`),
  );
});

test("the DNS process answers A queries over UDP and TCP and follows its zone file", { skip }, async () => {
  const name = "summary.default.svc.cluster.local";
  const udp = await inHub(["dig", "+short", "+time=2", "+tries=1", `@${APPS.dns}`, name, "A"]);
  assert.equal(udp.out, "192.0.2.11\n", udp.err);
  const tcp = await inHub(["dig", "+tcp", "+short", "+time=2", "+tries=1", `@${APPS.dns}`, name, "A"]);
  assert.equal(tcp.out, "192.0.2.11\n", tcp.err);
  const nx = await inHub([
    "dig",
    "+time=2",
    "+tries=1",
    `@${APPS.dns}`,
    "nope.default.svc.cluster.local",
    "A",
  ]);
  assert.match(nx.out, /status: NXDOMAIN/);
  assert.match(nx.out, /flags: qr aa rd;/);
  const ptr = await inHub(["dig", "+short", "+time=2", "+tries=1", `@${APPS.dns}`, "-x", "192.0.2.11"]);
  assert.equal(ptr.out, "summary.default.svc.cluster.local.\n");
  // A reprogram rewrites the file (atomically, by rename): the next query sees the new zone without a restart.
  const zone = JSON.parse(readFileSync(fixture, "utf8"));
  zone.serial += 1;
  zone.records["new.default.svc.cluster.local."] = [
    { name: "new.default.svc.cluster.local.", type: "A", ttl: 5, data: "192.0.2.99" },
  ];
  writeFileSync(join(dir, "zone.json.tmp"), JSON.stringify(zone));
  await bash(`mv ${join(dir, "zone.json.tmp")} ${join(dir, "zone.json")}`);
  const added = await inHub([
    "dig",
    "+short",
    "+time=2",
    "+tries=1",
    `@${APPS.dns}`,
    "new.default.svc.cluster.local",
  ]);
  assert.equal(added.out, "192.0.2.99\n");
});

test("the host services: sshd speaks first, the API server answers plain HTTP as Go's TLS server does", {
  skip,
}, async () => {
  const services = startApp("web", ["--image", "tortie/host-services:control-plane"]);
  for (const port of [22, 6443, 10250]) await listening("web", services, "t", port);
  const banner = await inHub([
    "timeout",
    "5",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${APPS.web}/22; head -n 1 <&3`,
  ]);
  assert.equal(banner.out, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
  const api = await inHub(["curl", "-s", "-i", "--max-time", "5", `http://${APPS.web}:6443/`]);
  assert.equal(api.code, 0, api.err);
  assert.equal(api.out, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
});

test("a port already bound is one line naming it, exit 1", { skip }, async () => {
  const second = startApp("web", ["--image", "nginx"]);
  const { code } = await second.exit;
  assert.equal(code, 1);
  assert.equal(
    second.stderr,
    "tortie serve-app: cannot listen on tcp port 80: address already in use (EADDRINUSE)\n",
  );
});

test("a name the zone lost: summary's fetch fails as the sim's does (not-found)", { skip }, async () => {
  const zone = JSON.parse(readFileSync(fixture, "utf8"));
  delete zone.records["database.default.svc.cluster.local."];
  zone.serial += 2;
  writeFileSync(join(dir, "zone.json.tmp"), JSON.stringify(zone));
  await bash(`mv ${join(dir, "zone.json.tmp")} ${join(dir, "zone.json")}`);
  try {
    const r = await inHub(["curl", "-s", "-i", "--max-time", "20", `http://${APPS.summ}/`]);
    assert.match(r.out, /^HTTP\/1\.1 500 INTERNAL SERVER ERROR\r\n/);
    assert.match(r.out, /<p>database: not-found<\/p>/);
  } finally {
    copyFileSync(fixture, join(dir, "zone.json.tmp"));
    await bash(`mv ${join(dir, "zone.json.tmp")} ${join(dir, "zone.json")}`);
  }
});

test("SIGTERM ends an app with status 0; its callers then see the sim's error names", { skip }, async () => {
  const db = processes[1]!;
  db.proc.kill("SIGTERM");
  assert.deepEqual(await db.exit, { code: 0, signal: null });
  assert.equal(db.stderr, "");
  const r = await inHub(["curl", "-s", "-i", "--max-time", "20", `http://${APPS.summ}/`]);
  assert.match(r.out, /^HTTP\/1\.1 500 INTERNAL SERVER ERROR\r\n/);
  assert.match(r.out, /<p>database: refused<\/p>/);
  for (const p of processes) {
    if (p.proc.exitCode !== null) continue;
    p.proc.kill("SIGTERM");
    assert.deepEqual(await p.exit, { code: 0, signal: null }, p.stderr);
  }
});
