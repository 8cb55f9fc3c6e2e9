import { readFileSync } from "node:fs";

/**
 * The manifests the labs apply by URL, shipped with tortie: it has no network access, so `kubectl create -f URL`
 * reads these copies instead. Any other URL is refused.
 */
const KNOWN_URLS: Record<string, string> = {
  "https://docs.projectcalico.org/archive/v3.21/manifests/tigera-operator.yaml": "tigera-operator-v3.21.yaml",
  "https://raw.githubusercontent.com/tigera/ccol1/main/yaobank.yaml": "yaobank.yaml",
  "https://raw.githubusercontent.com/tigera/ccol1/main/nginx.yaml": "nginx.yaml",
};

/** The shipped copy of a lab manifest URL, or undefined for a URL tortie does not know. */
export function bundledManifestForUrl(url: string): string | undefined {
  const file = KNOWN_URLS[url];
  return file === undefined
    ? undefined
    : readFileSync(new URL(`./manifests/${file}`, import.meta.url), "utf8");
}
