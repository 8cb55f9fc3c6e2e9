import { type Kernel, SysctlError, sysctlGet } from "../dataplane/sim/index.ts";
import type { CommandResult } from "./sim-commands.ts";

/**
 * `sysctl [-n] KEY...` (procps-ng): reads the sysctls the sim models (`net.ipv4.ip_forward`,
 * `net.ipv4.conf.{all,default,IFACE}.rp_filter`). Writing is not supported: the dataplane is rebuilt from the
 * store for every command, so a written value would not last.
 */
export function sysctlCommand(k: Kernel, args: string[]): CommandResult {
  let valuesOnly = false;
  const keys: string[] = [];
  for (const a of args) {
    if (a === "-n" || a === "--values") valuesOnly = true;
    else if (a === "-w" || a === "--write" || a.includes("="))
      return {
        stdout: "",
        stderr:
          "not supported yet: sysctl -w on the sim dataplane (the agents program the kernel afresh for every command)\n",
        code: 1,
      };
    else if (a.startsWith("-"))
      return { stdout: "", stderr: `not supported yet: sysctl ${a} on the sim dataplane\n`, code: 1 };
    else keys.push(a);
  }
  if (keys.length === 0)
    return { stdout: "", stderr: "not supported yet: sysctl without a key on the sim dataplane\n", code: 1 };
  let stdout = "";
  let stderr = "";
  let code = 0;
  for (const key of keys) {
    try {
      const v = sysctlGet(k, key);
      stdout += valuesOnly ? `${v}\n` : `${key} = ${v}\n`;
    } catch (e) {
      if (!(e instanceof SysctlError)) throw e;
      stderr += `${e.message}\n`;
      code = 255;
    }
  }
  return { stdout, stderr, code };
}
