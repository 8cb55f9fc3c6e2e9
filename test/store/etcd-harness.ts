import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Debian's etcd (etcd-server) on free loopback ports with its own temporary data dir, for tests. `startEtcd`
 * resolves once etcd answers /health; `stop` kills it and removes the data dir (register it with t.after or after,
 * so a failing test still cleans up).
 */
export interface EtcdServer {
  endpoint: string;
  dataDir: string;
  stop: () => Promise<void>;
  /** Stops etcd and starts it again on the same data dir and ports (clients' connections break meanwhile). */
  restart: () => Promise<void>;
}

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdUnavailable(): string | undefined {
  const r = spawnSync("etcd", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0)
    return "etcd is not installed (Debian package etcd-server); skipping the etcd tests";
  return undefined;
}

/** The same for tests that also read etcd back with etcdctl. */
export function etcdctlUnavailable(): string | undefined {
  const missing = etcdUnavailable();
  if (missing) return missing;
  const r = spawnSync("etcdctl", ["version"], {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  if (r.error || r.status !== 0)
    return "etcdctl is not installed (Debian package etcd-client); skipping this etcd test";
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A loopback endpoint nothing listens on (a port that was free a moment ago). */
export async function closedEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const r = await fetch(`${endpoint}/health`);
    return r.ok && ((await r.json()) as { health?: string }).health === "true";
  } catch {
    return false;
  }
}

export async function startEtcd(): Promise<EtcdServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "tortie-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const log: string[] = [];
  let child: ChildProcess;
  let exited: Promise<void>;
  const spawnEtcd = () => {
    child = spawn(
      "etcd",
      [
        "--name=tortie-test",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=tortie-test=${peerUrl}`,
        "--log-level=error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => log.push(d.toString()));
    const c = child;
    exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
  };
  const stop = async () => {
    await kill();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const untilHealthy = async () => {
    for (let attempt = 0; !(await healthy(endpoint)); attempt++) {
      if (child.exitCode !== null)
        throw new Error(`etcd exited with ${child.exitCode}: ${log.join("").trim()}`);
      if (attempt >= 300)
        throw new Error(`etcd did not become healthy on ${endpoint}: ${log.join("").trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  spawnEtcd();
  try {
    await untilHealthy();
  } catch (e) {
    await stop();
    throw e;
  }
  const restart = async () => {
    await kill();
    spawnEtcd();
    await untilHealthy();
  };
  return { endpoint, dataDir, stop, restart };
}
