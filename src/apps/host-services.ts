/**
 * The services every lab host runs in its own network namespace: sshd on 22 everywhere, the Kubernetes API server
 * on 6443 on control-plane hosts, the kubelet on 10250 on every cluster node. They accept connections and
 * answer the first bytes each protocol sends, which is what `nc -zv` and failsafe checks need.
 */
import type { AppListener } from "./app.ts";

const sshd: AppListener = {
  protocol: "tcp",
  port: 22,
  // An SSH server speaks first: its identification string (RFC 4253 §4.2).
  handle: () => "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
};

/** The API server and the kubelet serve HTTPS only; a plain HTTP request gets Go's TLS server answer. */
function tlsOnly(port: number): AppListener {
  return {
    protocol: "tcp",
    port,
    handle: () => "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
  };
}

/** The listeners of a host with this topology role. */
export function hostServices(role: "control-plane" | "worker" | "external"): AppListener[] {
  const out = [sshd];
  if (role === "control-plane") out.push(tlsOnly(6443));
  if (role !== "external") out.push(tlsOnly(10250));
  return out;
}
