/** What a workload app may do besides answering: fetch a URL from its pod, log a line, read the clock. */
export interface AppEnvironment {
  fetch(url: string): { ok: true; status: number; body: string } | { ok: false; error: string };
  log(line: string): void;
  /** The virtual clock, as a Date, for log timestamps. */
  now(): Date;
}

export interface AppRequest {
  /** The client's address and port as the server's socket sees them (after any NAT). */
  clientIp: string;
  clientPort: number;
  payload: string;
}

/** One listening socket of an app. */
export interface AppListener {
  protocol: "tcp" | "udp";
  port: number;
  handle(request: AppRequest, env: AppEnvironment): string | undefined;
}
