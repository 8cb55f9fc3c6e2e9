/**
 * An app's outgoing HTTP GET on the real kernel: the real `curl`, run in the app's own network namespace (the
 * process already runs there), so the name goes through glibc and the pod's resolv.conf (which `ip netns exec`
 * bind-mounts from /etc/netns/<netns>/resolv.conf) and the packets through the namespace's rules. Synchronous,
 * as AppEnvironment.fetch is: the app's process waits for the answer, as a single-threaded server does.
 */
import { execFileSync } from "node:child_process";
import type { AppEnvironment } from "./app.ts";

export type FetchResult = ReturnType<AppEnvironment["fetch"]>;

/**
 * Without a time limit of its own, a connect to a dropped destination ends when the kernel stops resending the
 * SYN (tcp_syn_retries 6: 127 s, the sim's SYN give-up); the limit only bounds a server that accepts and never
 * answers.
 */
export const FETCH_MAX_TIME_S = 135;

/** curl's failure as the sim's fetch names it (SimCluster.fetch; the apps put it in their 500 page). */
export function curlError(exitCode: number, stderr: string): string {
  switch (exitCode) {
    case 3:
      return "bad-url";
    case 6:
      return "not-found";
    case 7:
      if (/No route to host/i.test(stderr)) return "host-unreachable";
      if (/Network is unreachable/i.test(stderr)) return "network-unreachable";
      if (/timed out/i.test(stderr)) return "timeout";
      return "refused";
    case 28:
      return /Resolving timed out/i.test(stderr) ? "resolve-timeout" : "timeout";
    case 52:
      return "empty-reply";
    default: {
      const message = /^curl: \(\d+\) (.*)$/m.exec(stderr)?.[1] ?? "";
      return `curl exit ${exitCode}${message ? `: ${message}` : ""}`;
    }
  }
}

/** Splits curl's output written with `-w "\n%{http_code}"`: the body, then the status on the last line. */
export function splitCurlOutput(out: string): { status: number; body: string } | undefined {
  const cut = out.lastIndexOf("\n");
  if (cut < 0) return undefined;
  const status = Number(out.slice(cut + 1));
  if (!Number.isInteger(status) || status < 100) return undefined;
  return { status, body: out.slice(0, cut) };
}

/** GET `url` with curl (`curl` on PATH, or `curlPath`), as the app in this namespace would. */
export function curlFetch(url: string, options: { curlPath?: string; maxTimeS?: number } = {}): FetchResult {
  // -v: curl 7.88's error line says only "Couldn't connect to server"; its verbose lines name the errno.
  const args = [
    "-s",
    "-S",
    "-v",
    "--max-time",
    String(options.maxTimeS ?? FETCH_MAX_TIME_S),
    "-w",
    "\n%{http_code}",
  ];
  try {
    const out = execFileSync(options.curlPath ?? "curl", [...args, "--", url], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
    const parsed = splitCurlOutput(out);
    return parsed ? { ok: true, ...parsed } : { ok: false, error: "empty-reply" };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; stderr?: string };
    if (err.code === "ENOENT") return { ok: false, error: "curl is not installed" };
    if (typeof err.status !== "number") return { ok: false, error: `curl failed: ${err.message}` };
    return { ok: false, error: curlError(err.status, String(err.stderr ?? "")) };
  }
}
