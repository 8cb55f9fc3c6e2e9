import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";

/** What the server needs to serve TLS and check clients, and what a kubeconfig carries. */
export interface ServerCredentials {
  caCertPem: string;
  certPem: string;
  keyPem: string;
  token: string;
}

const FILES = { caCertPem: "ca.crt", certPem: "server.crt", keyPem: "server.key", token: "token" } as const;

/** Ten years, as kubeadm's CA; the serving certificate is for loopback only, so it lives as long. */
const VALID_YEARS = 10;

function newKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  // node:crypto generates the key (fast, native); node-forge only builds and signs the certificates.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
  };
}

function newCertificate(publicKey: forge.pki.PublicKey, commonName: string): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial (the top bit clear), random so that a regenerated CA never repeats one.
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime());
  cert.validity.notAfter.setFullYear(now.getFullYear() + VALID_YEARS);
  cert.setSubject([{ name: "commonName", value: commonName }]);
  return cert;
}

function generateCredentials(): ServerCredentials {
  const ca = newKeyPair();
  const caCert = newCertificate(ca.publicKey, "tortie-ca");
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const serving = newKeyPair();
  const cert = newCertificate(serving.publicKey, "tortie-apiserver");
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    // type 2 is a DNS name, type 7 an IP address (RFC 5280 GeneralName).
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
      ],
    },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());

  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(serving.privateKey),
    token: randomBytes(32).toString("base64url"),
  };
}

/** Writes a file readable by its owner only, atomically (a crash never leaves half a key). */
function writePrivate(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/**
 * The server's CA, serving certificate and key, and bearer token in `dir` (`<stateDir>/server`): created once,
 * owner-only (dir 0700, files 0600), and reused on every later start so a kubeconfig written once stays valid.
 */
export function ensureCredentials(dir: string): ServerCredentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const paths = Object.fromEntries(Object.entries(FILES).map(([k, f]) => [k, join(dir, f)])) as Record<
    keyof ServerCredentials,
    string
  >;
  if (Object.values(paths).every((p) => existsSync(p))) {
    for (const p of Object.values(paths)) chmodSync(p, 0o600);
    return {
      caCertPem: readFileSync(paths.caCertPem, "utf8"),
      certPem: readFileSync(paths.certPem, "utf8"),
      keyPem: readFileSync(paths.keyPem, "utf8"),
      token: readFileSync(paths.token, "utf8").trim(),
    };
  }
  const fresh = generateCredentials();
  // The token last: its presence marks a complete set.
  writePrivate(paths.caCertPem, fresh.caCertPem);
  writePrivate(paths.certPem, fresh.certPem);
  writePrivate(paths.keyPem, fresh.keyPem);
  writePrivate(paths.token, `${fresh.token}\n`);
  return fresh;
}
