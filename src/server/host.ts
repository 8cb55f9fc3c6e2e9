import type { ResourceClient } from "../store/index.ts";

/**
 * What the API server needs from the rest of tortie, given by its starter (`tortie serve`, in cli). The server
 * speaks HTTP; everything with cluster semantics beyond the store (settling controllers, the dataplanes, tortie's
 * own command lines) stays where it is built and is reached through these calls. So the server imports nothing
 * from cli, and the layers stay as ARCHITECTURE.md draws them.
 */
export interface ServerHost {
  /** The cluster's store, opened once for the server's life (with the API server's admission plugins). */
  store: ResourceClient;
  now: () => Date;
  /**
   * Called after every successful write through the API. The host settles the controllers and programs the
   * dataplane, serialized with forwarded commands; the promise ends when that is done (the request does not wait).
   */
  afterWrite(): Promise<void>;
  /** `pods/log`: the container's log text as `kubectl logs` prints it (tail, since, timestamps, previous). */
  podLogs(request: PodLogRequest): Promise<string>;
  /** `pods/exec`: runs a command in a pod's container, on the sim or the linux dataplane. Resolves to its exit code. */
  execInPod(request: PodExecRequest, io: CommandIO): Promise<number>;
  /**
   * Why a forwarded command line is not run here, in one line, or undefined when it is: the server runs only what
   * a `tortie …` client forwards (never the server's own commands, files written where the caller says, or what
   * runs until interrupted). Asked before runCommand; a refused request runs nothing.
   */
  commandRefusal(argv: string[]): string | undefined;
  /** A tortie command line forwarded by a `tortie …` process (`POST /tortie/v1/commands`). Resolves to its exit code. */
  runCommand(request: ForwardedCommand, io: CommandIO): Promise<number>;
}

export interface PodLogRequest {
  namespace: string;
  pod: string;
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
  previous?: boolean;
}

export interface PodExecRequest {
  namespace: string;
  pod: string;
  container?: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

/** A command's standard streams, as the transport (a WebSocket, a forwarding response) carries them. */
export interface CommandIO {
  stdout(chunk: string): void;
  stderr(chunk: string): void;
  /** Everything the client sends on standard input, until it closes it ("" when it sends none). */
  stdin(): Promise<string>;
  /** Aborted when the client goes away (Ctrl-C, a closed connection). */
  signal: AbortSignal;
}

/** One `tortie …` command line run inside the server, as the client process would have run it. */
export interface ForwardedCommand {
  argv: string[];
  /** The client's working directory: relative paths (`-f file`) are the client's. */
  cwd: string;
  /** The client's TORTIE_* environment variables (TORTIE_NOW pins the clock in tests). */
  env: Record<string, string>;
}
