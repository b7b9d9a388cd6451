// Fidelity test: Microsoft's official Key Vault JavaScript clients, unchanged,
// against the vaultvol fakes.  The fake passes only if the SDK works with it.
//
//   node fidelity.mjs STATE_DIR      (run.sh sets NODE_EXTRA_CA_CERTS)
//
// Prints "PASS name" / "FAIL name: why" per check and "N passed, M failed".
// The credential is a plain TokenCredential object that fetches a real token
// from the fake IMDS, so the fake validates what the SDK sends.

import { readFileSync } from "node:fs";
import crypto from "node:crypto";
import { SecretClient } from "@azure/keyvault-secrets";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";

const stateDir = process.argv[2] || process.env.FAKES_STATE_DIR;
if (!stateDir) {
  console.error("usage: node fidelity.mjs STATE_DIR");
  process.exit(2);
}
const info = JSON.parse(readFileSync(`${stateDir}/ports.json`, "utf8"));
const opts = { disableChallengeResourceVerification: true };

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    const detail = await fn();
    console.log(`PASS ${name}${detail ? ` (${detail})` : ""}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split("\n")[0] : e}`);
    failed++;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function ctl(op, params = {}) {
  const r = await fetch(`${info.ctl_url}/ctl/${op}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  const j = await r.json();
  if (!j.ok) throw new Error(`control ${op}: ${j.error}`);
  return j;
}

const counter = async (name) => (await ctl("counter", { name })).value;

class ImdsCredential {
  constructor() {
    this.calls = 0;
    this.scopes = [];
  }
  async getToken(scopes) {
    this.calls++;
    const scope = [].concat(scopes)[0];
    this.scopes.push(scope);
    const resource = scope.replace(/\/\.default$/, "");
    const url =
      `${info.imds_url}/metadata/identity/oauth2/token?api-version=2018-02-01` +
      `&resource=${encodeURIComponent(resource)}`;
    const r = await fetch(url, { headers: { Metadata: "true" } });
    const j = await r.json();
    if (r.status !== 200) throw new Error(`IMDS ${r.status}: ${JSON.stringify(j)}`);
    for (const k of ["expires_in", "expires_on", "not_before"]) {
      if (typeof j[k] !== "string") throw new Error(`IMDS ${k} is not a JSON string`);
    }
    return { token: j.access_token, expiresOnTimestamp: Number(j.expires_on) * 1000 };
  }
}

// The SDK wraps service errors in RestError; the wire body is in the response.
async function expectRestError(promise, status, code, inner) {
  try {
    await promise;
  } catch (e) {
    assert(e.statusCode === status, `status ${e.statusCode}, want ${status} (${e.message})`);
    assert(e.code === code, `code ${e.code}, want ${code}`);
    if (inner) {
      // the SDK deserializes the wire's "innererror" into details.error.innerError
      const got = e.details?.error?.innerError?.code;
      assert(got === inner, `innererror ${got}, want ${inner}`);
    }
    return `${status} ${code}${inner ? "/" + inner : ""}`;
  }
  throw new Error(`no error, want ${status} ${code}`);
}

const ALGS = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"];
const eq = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

// The SDK reaches the fake by its loopback address (the fake's ids follow
// the Host header, so they carry that address too); vaultvol's own tests use
// the vault name pinned to loopback instead.
const kvUrl = info.kv_ip_url || info.kv_url;

async function main() {
  await ctl("reset");
  const cred = new ImdsCredential();
  const secrets = new SecretClient(kvUrl, cred, opts);
  const keys = new KeyClient(kvUrl, cred, opts);
  const sname = "fid-secret";
  let v1, v2;

  await check("setSecret (challenge, IMDS token, PUT)", async () => {
    const s = await secrets.setSecret(sname, "first-value", {
      contentType: "BEK",
      tags: { DiskEncryptionKeyFileName: "LinuxPassPhraseFileName", MachineName: "vm1" },
    });
    v1 = s.properties.version;
    assert(/^[0-9a-f]{32}$/.test(v1), `version ${v1} is not 32 hex`);
    assert(s.value === "first-value", "value not echoed");
    assert(s.properties.id === `${kvUrl}/secrets/${sname}/${v1}`, `id ${s.properties.id}`);
    assert((await counter("primary.challenges.no_token")) >= 1, "no 401 challenge was sent");
    assert(cred.scopes.includes("https://vault.azure.net/.default"), `scopes ${cred.scopes}`);
    return `version ${v1}`;
  });

  await check("setSecret new version", async () => {
    const s = await secrets.setSecret(sname, "second-value");
    v2 = s.properties.version;
    assert(v2 && v2 !== v1, "same version twice");
  });

  await check("getSecret latest", async () => {
    const s = await secrets.getSecret(sname);
    assert(s.value === "second-value", `value ${s.value}`);
    assert(s.properties.version === v2, `version ${s.properties.version}`);
    assert(s.properties.enabled === true, "enabled");
    assert(s.properties.createdOn instanceof Date && s.properties.createdOn.getTime() > 0, "created");
    assert(s.properties.recoveryLevel === "Recoverable+Purgeable", "recoveryLevel");
  });

  await check("getSecret by version (tags, contentType)", async () => {
    const s = await secrets.getSecret(sname, { version: v1 });
    assert(s.value === "first-value", `value ${s.value}`);
    assert(s.properties.contentType === "BEK", `contentType ${s.properties.contentType}`);
    assert(s.properties.tags?.MachineName === "vm1", `tags ${JSON.stringify(s.properties.tags)}`);
  });

  await check("listPropertiesOfSecretVersions", async () => {
    const seen = [];
    for await (const p of secrets.listPropertiesOfSecretVersions(sname)) seen.push(p.version);
    assert(seen.length === 2 && seen.includes(v1) && seen.includes(v2), `versions ${seen}`);
  });

  await check("updateSecretProperties disables (PATCH)", async () => {
    const p = await secrets.updateSecretProperties(sname, v1, { enabled: false });
    assert(p.enabled === false, "still enabled");
  });

  await check("getSecret of disabled version -> 403 Forbidden/SecretDisabled", () =>
    expectRestError(secrets.getSecret(sname, { version: v1 }), 403, "Forbidden", "SecretDisabled"));

  await check("getSecret missing -> 404 SecretNotFound", () =>
    expectRestError(secrets.getSecret("no-such-secret"), 404, "SecretNotFound"));

  await check("getSecret unknown version -> 404 SecretNotFound", () =>
    expectRestError(secrets.getSecret(sname, { version: "0".repeat(32) }), 404, "SecretNotFound"));

  await check("429 with Retry-After is retried by the SDK", async () => {
    const before = await counter("primary.get_secret");
    await ctl("fault", { server: "primary", path: `/secrets/${sname}*`, method: "GET",
                         when: "authed", status: 429, retry_after: 1 });
    const s = await secrets.getSecret(sname);
    assert(s.value === "second-value", "value after retry");
    const n = (await counter("primary.get_secret")) - before;
    assert(n === 2, `${n} requests, want 2`);
    assert((await counter("primary.status.429")) === 1, "429 not sent");
  });

  // ---- keys

  const kname = "fid-kek";
  let kek;
  await check("createRsaKey (POST create)", async () => {
    kek = await keys.createRsaKey(kname, { keySize: 2048 });
    assert(kek.keyType === "RSA", `kty ${kek.keyType}`);
    assert(/^[0-9a-f]{32}$/.test(kek.properties.version), "version");
  });

  await check("getKey: n/e/kid/key_ops", async () => {
    const k = await keys.getKey(kname);
    assert(k.key.n.length === 256, `n is ${k.key.n.length} bytes`);
    assert(eq(k.key.e, [1, 0, 1]), "e != 65537");
    assert(k.id === `${kvUrl}/keys/${kname}/${kek.properties.version}`, `kid ${k.id}`);
    assert(k.keyOperations.includes("wrapKey") && k.keyOperations.includes("unwrapKey"), "key_ops");
  });

  // Preloaded key with its PEM so node's own crypto can check the fake.
  const pk = await ctl("put_key", { name: "fid-pem", bits: 2048 });
  const pem = (await ctl("key_pem", { name: "fid-pem" })).pem;

  await check("getKey matches the key material (n, e)", async () => {
    const k = await keys.getKey("fid-pem");
    const jwk = crypto.createPublicKey(pem).export({ format: "jwk" });
    assert(Buffer.from(k.key.n).toString("base64url") === jwk.n, "n differs");
    assert(Buffer.from(k.key.e).toString("base64url") === jwk.e, "e differs");
  });

  const hybrid = new CryptographyClient(kek, cred, opts);
  for (const alg of ALGS) {
    await check(`CryptographyClient(key) wrapKey/unwrapKey ${alg}`, async () => {
      const before = await counter("primary.wrapkey");
      const cek = crypto.randomBytes(32);
      const w = await hybrid.wrapKey(alg, cek);
      const u = await hybrid.unwrapKey(alg, w.result);
      assert(eq(u.result, cek), "round trip differs");
      const remote = (await counter("primary.wrapkey")) - before;
      return remote ? "wrapped by the fake" : "wrapped locally by the SDK with the fake's n/e";
    });
  }

  // Deny GET on the key: the SDK then falls back to remote-only and sends
  // every wrap to the fake (and this exercises the RBAC 403 path).
  await ctl("rbac_deny", { path: `/keys/${kname}*`, method: "GET" });
  const remote = new CryptographyClient(kek.id, cred, opts);
  for (const alg of ALGS) {
    await check(`remote-only wrapKey/unwrapKey ${alg}`, async () => {
      const before = await counter("primary.wrapkey.ok");
      const cek = crypto.randomBytes(32);
      const w = await remote.wrapKey(alg, cek);
      assert(w.keyID === kek.id, `kid ${w.keyID}`);
      const u = await remote.unwrapKey(alg, w.result);
      assert(eq(u.result, cek), "round trip differs");
      assert((await counter("primary.wrapkey.ok")) - before === 1, "wrap did not reach the fake");
    });
  }
  await check("getKey denied by RBAC -> 403 Forbidden/ForbiddenByRbac", () =>
    expectRestError(keys.getKey(kname), 403, "Forbidden", "ForbiddenByRbac"));
  await ctl("rbac_clear");

  // remote-only again, so that every wrap below is the fake's own output
  await ctl("rbac_deny", { path: "/keys/fid-pem*", method: "GET" });
  const pemClient = new CryptographyClient(`${kvUrl}/keys/fid-pem/${pk.version}`, cred, opts);
  for (const [alg, hash] of [["RSA-OAEP", "sha1"], ["RSA-OAEP-256", "sha256"]]) {
    await check(`fake ${alg} interoperates with node/OpenSSL`, async () => {
      const cek = crypto.randomBytes(48);
      const w = await pemClient.wrapKey(alg, cek);
      const plain = crypto.privateDecrypt(
        { key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, w.result);
      assert(eq(plain, cek), "OpenSSL could not unwrap the fake's output");
      const ct = crypto.publicEncrypt(
        { key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, cek);
      const u = await pemClient.unwrapKey(alg, ct);
      assert(eq(u.result, cek), "the fake could not unwrap OpenSSL's output");
    });
  }
  await check("fake RSA1_5 unwraps node/OpenSSL PKCS#1 v1.5", async () => {
    const cek = crypto.randomBytes(32);
    const ct = crypto.publicEncrypt({ key: pem, padding: crypto.constants.RSA_PKCS1_PADDING }, cek);
    const u = await pemClient.unwrapKey("RSA1_5", ct);
    assert(eq(u.result, cek), "differs");
  });

  await ctl("rbac_clear");
  await ctl("revoke_key", { name: "fid-pem" });
  await check("revoked key: unwrapKey -> 403 Forbidden/KeyDisabled", () =>
    expectRestError(pemClient.unwrapKey("RSA-OAEP", crypto.randomBytes(256)), 403, "Forbidden",
                    "KeyDisabled"));

  await check("getKey missing -> 404 KeyNotFound", () =>
    expectRestError(keys.getKey("no-such-key"), 404, "KeyNotFound"));

  await check("authorization_uri challenge style still works", async () => {
    await ctl("config", { challenge_style: "authorization_uri" });
    const c2 = new SecretClient(kvUrl, new ImdsCredential(), opts);
    const s = await c2.getSecret(sname);
    await ctl("config", { challenge_style: "authorization" });
    assert(s.value === "second-value", "value");
  });

  await check("expired token -> 401 with challenge; a fresh token works", async () => {
    const c3 = new SecretClient(kvUrl, new ImdsCredential(), opts);
    await c3.getSecret(sname);
    const before = await counter("primary.challenges.bad_token");
    await ctl("expire_tokens");
    // This SDK re-answers the challenge from its token cache, so the
    // revoked token comes back and the fake must refuse it again.
    const r = await expectRestError(c3.getSecret(sname), 401, "Unauthorized");
    assert((await counter("primary.challenges.bad_token")) > before, "no bad_token challenge");
    const c4 = new SecretClient(kvUrl, new ImdsCredential(), opts);
    const s = await c4.getSecret(sname);
    assert(s.value === "second-value", "value with a fresh token");
    return r;
  });

  await check("secondary vault serves the same material", async () => {
    assert(info.kv2_url, "no secondary vault");
    const r = await ctl("put_secret", { vault: "all", name: "mirrored", value: "same" });
    const c4 = new SecretClient(info.kv2_ip_url || info.kv2_url, cred, opts);
    const s = await c4.getSecret("mirrored", { version: r.version });
    // ids follow the Host header: the same path under whichever name was used
    assert(s.value === "same" && s.properties.id.endsWith(new URL(r.ids.secondary).pathname), "mismatch");
  });

  const conns = await counter("primary.connections");
  const reqs = await counter("primary.requests");
  console.log(`info: primary vault saw ${reqs} requests over ${conns} TCP connections`);
}

try {
  await main();
} catch (e) {
  console.log(`FAIL setup: ${e.message}`);
  failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
