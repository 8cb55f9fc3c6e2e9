/** A kubeconfig for the server: one cluster (the CA inline), one token user, context `tortie-<cluster>`. */
export function kubeconfigText(o: {
  url: string;
  caCertPem: string;
  token: string;
  clusterName: string;
}): string {
  const context = `tortie-${o.clusterName}`;
  const ca = Buffer.from(o.caCertPem).toString("base64");
  // Every value is JSON-quoted: JSON strings are YAML scalars, so no name can break the document.
  const q = (s: string) => JSON.stringify(s);
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${q(context)}`,
    "  cluster:",
    `    server: ${q(o.url)}`,
    `    certificate-authority-data: ${q(ca)}`,
    "users:",
    `- name: ${q(context)}`,
    "  user:",
    `    token: ${q(o.token)}`,
    "contexts:",
    `- name: ${q(context)}`,
    "  context:",
    `    cluster: ${q(context)}`,
    `    user: ${q(context)}`,
    `current-context: ${q(context)}`,
    "preferences: {}",
    "",
  ].join("\n");
}
