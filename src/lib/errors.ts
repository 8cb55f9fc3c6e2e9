/**
 * Typed errors. Every failure a user can cause is one of these, so the CLI prints one line and never a stack.
 * `code` is stable for programs; `message` is for people.
 */
export type ErrorCode =
  | "Invalid"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Parse"
  | "Usage"
  | "Unsupported"
  | "Compacted"
  | "Locked"
  /** A service tortie depends on (etcd) does not answer: nothing is wrong with the request. */
  | "Unavailable"
  | "Internal";

export class TortieError extends Error {
  readonly code: ErrorCode;
  /**
   * The message is several lines on purpose (kubectl's "See '... -h' for help"), so the CLI prints it as it
   * is; every other message is printed on one line, its control characters escaped (`escapeControl`).
   */
  readonly multiline: boolean;
  constructor(code: ErrorCode, message: string, options: { multiline?: boolean } = {}) {
    super(message);
    this.code = code;
    this.name = `${code}Error`;
    this.multiline = options.multiline ?? false;
  }
}

/** One problem with one field, e.g. `spec.cidr: invalid CIDR "10.0.0.0/33"`. */
export interface FieldProblem {
  path: string;
  message: string;
}

export class ValidationError extends TortieError {
  readonly problems: FieldProblem[];
  readonly subject: string;
  constructor(subject: string, problems: FieldProblem[]) {
    super("Invalid", `${subject} is invalid: ${problems.map(formatProblem).join("; ")}`);
    this.subject = subject;
    this.problems = problems;
  }
}

function formatProblem(p: FieldProblem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

export class NotFoundError extends TortieError {
  constructor(message: string) {
    super("NotFound", message);
  }
}

export class AlreadyExistsError extends TortieError {
  constructor(message: string) {
    super("AlreadyExists", message);
  }
}

/** A precondition (resourceVersion, revision) did not hold: someone else changed the object first. */
export class ConflictError extends TortieError {
  constructor(message: string) {
    super("Conflict", message);
  }
}

/** Input text that does not parse; names the source and position when known. */
export class ParseError extends TortieError {
  readonly source: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(source: string, message: string, line?: number, column?: number) {
    const where =
      line === undefined ? source : `${source}:${line}${column === undefined ? "" : `:${column}`}`;
    super("Parse", `${where}: ${message}`);
    this.source = source;
    this.line = line;
    this.column = column;
  }
}

export class UsageError extends TortieError {
  constructor(message: string) {
    super("Usage", message);
  }
}

/** Something the issue tracker says is not built yet. Never a fake answer. */
export class UnsupportedError extends TortieError {
  constructor(what: string) {
    super("Unsupported", `not supported yet: ${what}`);
  }
}

export function isTortieError(e: unknown): e is TortieError {
  return e instanceof TortieError;
}

/**
 * An error message as one line: control characters (a newline in a name, a NUL) are escaped the way Go's %q
 * escapes them (kubectl quotes names with %q), so every error the CLI prints stays one line.
 */
export function escapeControl(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = {
      "\n": "\\n",
      "\r": "\\r",
      "\t": "\\t",
      "\u0007": "\\a",
      "\b": "\\b",
      "\f": "\\f",
      "\v": "\\v",
    };
    const code = c.charCodeAt(0);
    return (
      named[c] ??
      (code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`)
    );
  });
}
