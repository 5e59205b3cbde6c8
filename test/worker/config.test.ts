import { expect } from "chai";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Wallet, encryptKeystoreJsonSync } from "ethers";
import {
  CONFIG_SCHEMA,
  ConfigError,
  KeystoreError,
  decryptKeystore,
  describeConfig,
  effectiveConfirmations,
  loadConfig,
  loadConfigWithSources,
  redactedConfig,
  resolvePrivateKey,
  wantsHelp,
  WorkerConfigSchema,
  type ConfigIssue,
} from "../../packages/worker/src/config.js";
import { createLogger } from "../../packages/worker/src/internal/log.js";

// Hardhat's well-known dev key #1 — never a real secret.
const PK = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const MODEL_ID = `0x${"ab".repeat(32)}`;

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected a ConfigError");
}

describe("worker/config", function () {
  let dir: string;
  let model: string;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-config-"));
    model = path.join(dir, "mnist.onnx");
    writeFileSync(model, "onnx");
    env = { VEIL_RPC_URL: "http://127.0.0.1:8545", VEIL_PRIVATE_KEY: PK, VEIL_MODELS: model };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe("loading", () => {
    it("applies documented defaults and returns a deeply frozen object", () => {
      const { config, sources, warnings } = loadConfigWithSources({ env, cwd: dir });
      expect(config).to.deep.include({
        rpcUrls: ["http://127.0.0.1:8545"],
        privateKey: PK,
        httpHost: "127.0.0.1",
        httpPort: 7420,
        confirmations: "auto",
        pollIntervalMs: 2000,
        gasBumpPercent: 25,
        maxPostBatch: 20,
        maxFinalizeBatch: 50,
        logLevel: "info",
        metrics: true,
        validator: false,
        spotCheckRate: 0.05,
        autoRegister: false,
        autoStake: "0",
        maxConcurrency: 2,
        maxBlobBytes: 64 * 1024 * 1024,
        maxPendingBlobBytes: 256 * 1024 * 1024,
        pendingBlobTtlSeconds: 900,
        dataDir: path.join(dir, ".veil/worker"),
        deploymentsDir: path.join(dir, "deployments"),
      });
      expect(config.models).to.deep.equal([{ path: model }]);
      expect(config.chainId).to.equal(undefined);
      expect(sources).to.include({ rpcUrls: "env", httpPort: "default" });
      expect(warnings).to.deep.equal([]);
      expect(Object.isFrozen(config)).to.equal(true);
      expect(Object.isFrozen(config.models[0])).to.equal(true);
      expect(() => ((config as { httpPort: number }).httpPort = 1)).to.throw(TypeError);
      expect(() => (config.rpcUrls as string[]).push("x")).to.throw(TypeError);
    });

    it("gives flags priority over env over the JSON file over defaults", () => {
      const file = path.join(dir, "worker.json");
      writeFileSync(file, JSON.stringify({ httpPort: 1111, pollIntervalMs: 500, maxBatch: 4, rpcUrls: ["http://file:1"], logLevel: "debug" }));
      const { config, sources } = loadConfigWithSources({
        file,
        env: { ...env, VEIL_HTTP_PORT: "2222", VEIL_POLL_INTERVAL_MS: "700", VEIL_MAX_FINALIZE_BATCH: "8" },
        argv: ["--http-port", "3333", "--max-finalize-batch", "12", "--rpc-url", "https://a.example/rpc", "--rpc-url=https://b.example,wss://c.example"],
        cwd: dir,
      });
      expect(config.httpPort).to.equal(3333);
      expect(config.pollIntervalMs).to.equal(700);
      expect(config.maxBatch).to.equal(4);
      expect(config.maxFinalizeBatch).to.equal(12);
      expect(config.logLevel).to.equal("debug");
      // Lists from a higher source replace (not merge); repeated/comma flags accumulate, in order.
      expect(config.rpcUrls).to.deep.equal(["https://a.example/rpc", "https://b.example", "wss://c.example"]);
      expect(sources).to.include({ httpPort: "flag", pollIntervalMs: "env", maxBatch: "file", gasBumpPercent: "default" });
    });

    it("finds the file via --config or VEIL_CONFIG and resolves its relative paths against its own directory", () => {
      const sub = path.join(dir, "conf");
      mkdirSync(sub);
      writeFileSync(path.join(sub, "m.onnx"), "x");
      writeFileSync(
        path.join(sub, "w.json"),
        JSON.stringify({ models: [{ path: "m.onnx", modelId: MODEL_ID.toUpperCase().replace("0X", "0x") }], dataDir: "state" }),
      );
      const baseEnv = { VEIL_RPC_URL: env.VEIL_RPC_URL!, VEIL_PRIVATE_KEY: PK };
      const viaFlag = loadConfig({ argv: ["--config", path.join(sub, "w.json")], env: baseEnv, cwd: dir });
      expect(viaFlag.models).to.deep.equal([{ path: path.join(sub, "m.onnx"), modelId: MODEL_ID }]);
      expect(viaFlag.dataDir).to.equal(path.join(sub, "state"));
      const viaEnv = loadConfig({ env: { ...baseEnv, VEIL_CONFIG: "conf/w.json", VEIL_DATA_DIR: "here" }, cwd: dir });
      expect(viaEnv.dataDir).to.equal(path.join(dir, "here")); // env paths are relative to cwd
      const inline = loadConfig({ file: { models: [path.join(sub, "m.onnx")] }, env: baseEnv, cwd: dir });
      expect(inline.models[0]!.path).to.equal(path.join(sub, "m.onnx"));
    });

    it("parses booleans, model specs, confirmations and token amounts", () => {
      const other = path.join(dir, "b.onnx");
      writeFileSync(other, "x");
      const c = loadConfig({
        env: { ...env, VEIL_VALIDATOR: "yes", VEIL_SPOT_CHECK_RATE: "0.5", VEIL_AUTO_STAKE: "5000" },
        argv: ["--no-metrics", "--auto-register", "--public-url", "https://w.example.org/", "--model", `${other}=${MODEL_ID}`, "--model", model, "--confirmations", "12"],
        cwd: dir,
      });
      expect(c).to.include({ metrics: false, validator: true, autoRegister: true, spotCheckRate: 0.5, confirmations: 12 });
      expect(c.publicUrl).to.equal("https://w.example.org");
      expect(c.autoStake).to.equal("5000");
      expect(c.models).to.deep.equal([{ path: other, modelId: MODEL_ID }, { path: model }]);
      expect(loadConfig({ env, argv: ["--metrics=false", "--validator=true"], cwd: dir })).to.include({ metrics: false, validator: true });
    });

    it("--auto-stake takes VEIL tokens like `veil node stake --amount`, and refuses the old base-unit form", () => {
      const stake = (v: string) => loadConfig({ env, argv: ["--auto-stake", v], cwd: dir }).autoStake;
      expect(stake("5000")).to.equal("5000");
      expect(stake("2500.50")).to.equal("2500.5");
      expect(stake("0.000000000000000001")).to.equal("0.000000000000000001");
      expect(stake("0")).to.equal("0");
      const issue = (v: string) => issuesOf(() => loadConfig({ env, argv: ["--auto-stake", v], cwd: dir }))[0]!;
      expect(issue("5000000000000000000000").message).to.match(/takes VEIL tokens \(e\.g\. 5000\), not base units/);
      expect(issue("5e3").message).to.match(/expected an amount of VEIL tokens/);
      expect(issue("-1").message).to.match(/expected an amount of VEIL tokens/);
      expect(issue("1.0000000000000000001").message).to.match(/at most 18 decimals/);
    });

    it("speaks the veil CLI's vocabulary: --deployment, and --rpc / --key / --addresses-file as aliases", () => {
      const book = path.join(dir, "31337.json");
      writeFileSync(book, "{}");
      const base = { VEIL_MODELS: model };
      const canonical = loadConfigWithSources({ env: base, argv: ["--rpc-url", "http://a:1", "--private-key", PK, "--deployment", book], cwd: dir });
      const aliases = loadConfigWithSources({ env: base, argv: ["--rpc", "http://a:1", "--key", PK, "--addresses-file", book], cwd: dir });
      for (const { config } of [canonical, aliases]) {
        expect(config).to.include({ privateKey: PK, addressesFile: book });
        expect(config.rpcUrls).to.deep.equal(["http://a:1"]);
      }
      // The secret warning names the canonical flag whichever spelling was used.
      expect(aliases.warnings.join("\n")).to.match(/--private-key exposes a secret/);
      // The environment: VEIL_DEPLOYMENT (the CLI's) first, VEIL_ADDRESSES_FILE still read.
      expect(loadConfig({ env: { ...env, VEIL_DEPLOYMENT: book }, cwd: dir }).addressesFile).to.equal(book);
      expect(loadConfig({ env: { ...env, VEIL_ADDRESSES_FILE: book }, cwd: dir }).addressesFile).to.equal(book);
      const help = describeConfig();
      expect(help).to.match(/--deployment <path> \(alias --addresses-file\)/);
      expect(help).to.match(/--rpc-url <url\[\]> \(alias --rpc\)/);
      expect(help).to.match(/--private-key <hex32> \(alias --key\)/);
      expect(help).to.match(/VEIL_DEPLOYMENT \(or VEIL_ADDRESSES_FILE\)/);
    });

    it("reports every invalid field at once, with where it came from", () => {
      const issues = issuesOf(() =>
        loadConfig({
          file: { httpPort: "eighty", bogusKey: 1 },
          env: {
            VEIL_RPC_URL: "ftp://nope",
            VEIL_GAS_BUMP_PERCENT: "10",
            VEIL_SPOT_CHECK_RATE: "1.5",
            VEIL_MAX_FINALIZE_BATCH: "0",
            VEIL_LOG_LEVEL: "loud",
            VEIL_MODELS: `${model}=0x1234`,
            VEIL_DEPLOYER_KEY: "ignored: not a worker variable",
          },
          argv: ["--max-batch", "0", "--frobnicate", "stray", "--chain-id"],
          cwd: dir,
        }),
      );
      const byField = Object.fromEntries(issues.map((i) => [i.field, i]));
      expect(Object.keys(byField)).to.include.members([
        "httpPort",
        "bogusKey",
        "rpcUrls",
        "gasBumpPercent",
        "spotCheckRate",
        "maxFinalizeBatch",
        "logLevel",
        "models",
        "maxBatch",
        "--frobnicate",
        "stray",
        "chainId",
        "privateKey",
      ]);
      expect(byField.gasBumpPercent).to.include({ source: "env", origin: "VEIL_GAS_BUMP_PERCENT" });
      expect(byField.gasBumpPercent!.message).to.match(/between 20 and 1000/);
      expect(byField.maxBatch).to.include({ source: "flag", origin: "--max-batch" });
      expect(byField.maxFinalizeBatch).to.include({ source: "env", origin: "VEIL_MAX_FINALIZE_BATCH" });
      expect(byField.maxFinalizeBatch!.message).to.match(/between 1 and 200/);
      expect(byField.httpPort!.source).to.equal("file");
      expect(byField.privateKey!.message).to.match(/operator key is required/);
    });

    it("validates JSON-typed values from the file in the same terms (zod schema per setting)", () => {
      const issues = issuesOf(() =>
        loadConfig({
          file: { metrics: "maybe", models: [{ path: "m.onnx", extra: 1 }, 5], confirmations: 0, rpcUrls: ["http://ok:1", "ftp://no"], chainId: 1.5 },
          env: { VEIL_PRIVATE_KEY: PK },
          cwd: dir,
        }),
      ).map((i) => `${i.field}: ${i.message}`);
      expect(issues).to.include.members([
        "metrics: expected a boolean (true/false/1/0/yes/no/on/off), got \"maybe\"",
        "models: item 1: unknown model key(s) extra (expected path, modelId)",
        'models: item 2: expected "path[=0xmodelId]" or {path, modelId?}, got 5',
        "confirmations: must be between 1 and 1000, got 0",
        'rpcUrls: item 2: must be a URL using http, https, ws, wss, got "ftp://no/"',
        "chainId: expected an integer, got 1.5",
      ]);
      // Every key of the schema is a documented setting with its env var and flag.
      expect(CONFIG_SCHEMA.map((s) => s.key)).to.deep.equal(Object.keys(WorkerConfigSchema.shape));
      for (const s of CONFIG_SCHEMA) expect(s.env, s.key).to.match(/^VEIL_[A-Z_]+$/) && expect(s.flag, s.key).to.match(/^--[a-z-]+$/);
    });

    it("never echoes a secret value in an error", () => {
      const secretish = "0xnot-a-key-but-still-secret-material";
      try {
        loadConfig({ env: { ...env, VEIL_PRIVATE_KEY: secretish, VEIL_KEYSTORE_PASSWORD: "hunter2" }, cwd: dir });
        expect.fail("should throw");
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        const text = `${(err as Error).message} ${JSON.stringify((err as ConfigError).issues)}`;
        expect(text).to.not.include("not-a-key");
        expect(text).to.not.include("hunter2");
        expect(text).to.match(/privateKey.*32 bytes/);
      }
    });

    it("enforces cross-field rules", () => {
      const ks = path.join(dir, "ks.json");
      writeFileSync(ks, "{}");
      const fields = (e: Record<string, string>, argv: string[] = []) =>
        issuesOf(() => loadConfig({ env: e, argv, cwd: dir })).map((i) => `${i.field}: ${i.message}`);
      expect(fields({ ...env, VEIL_KEYSTORE: ks, VEIL_KEYSTORE_PASSWORD: "pw" })).to.deep.equal(["privateKey: set either privateKey or keystorePath, not both"]);
      const noKey = { VEIL_RPC_URL: env.VEIL_RPC_URL!, VEIL_MODELS: model };
      expect(fields({ ...noKey, VEIL_KEYSTORE: ks })).to.deep.equal(["keystorePassword: keystorePath needs keystorePassword or keystorePasswordFile"]);
      expect(fields({ ...env, VEIL_KEYSTORE_PASSWORD: "pw" })).to.deep.equal(["keystorePassword: a keystore password was given without keystorePath"]);
      expect(fields({ ...env }, ["--auto-register"])).to.deep.equal(["publicUrl: required when autoRegister is on (it is the endpoint registered on chain)"]);
      expect(fields({ ...env, VEIL_MODELS: "" })[0]).to.match(/^models: at least one model/);
      expect(fields({ ...env, VEIL_MODELS: `${model},${model}` })[0]).to.match(/listed twice/);
      expect(fields({ ...env, VEIL_MODELS: path.join(dir, "missing.onnx") })[0]).to.match(/file not found/);
      expect(fields({ VEIL_PRIVATE_KEY: PK, VEIL_MODELS: model })[0]).to.match(/^rpcUrls: required/);
      expect(fields({ ...env }, ["--public-url", "https://user:pw@x.example"])[0]).to.match(/credentials/);
      // A keystore-only config is valid.
      const ok = loadConfig({ env: { ...noKey, VEIL_KEYSTORE: ks, VEIL_KEYSTORE_PASSWORD: " pw " }, cwd: dir });
      expect(ok.keystorePassword).to.equal(" pw ");
      expect(ok.keystorePath).to.equal(ks);
    });

    it("warns about secrets on the command line, world-readable secret files and unreachable public URLs", () => {
      const file = path.join(dir, "w.json");
      writeFileSync(file, JSON.stringify({ privateKey: PK }));
      chmodSync(file, 0o644);
      const { warnings } = loadConfigWithSources({
        file,
        env: { VEIL_RPC_URL: env.VEIL_RPC_URL!, VEIL_MODELS: model },
        argv: ["--public-url", "http://localhost:7420"],
        cwd: dir,
      });
      expect(warnings.join("\n")).to.match(/chmod 600/).and.match(/not reachable/);
      const cli = loadConfigWithSources({ env: { VEIL_RPC_URL: env.VEIL_RPC_URL!, VEIL_MODELS: model }, argv: ["--private-key", PK], cwd: dir });
      expect(cli.warnings.join("\n")).to.match(/--private-key exposes a secret/);
      expect(wantsHelp(["--help"])).to.equal(true);
      expect(wantsHelp(["-h"])).to.equal(true);
      expect(wantsHelp([])).to.equal(false);
      // --help does not make loading fail.
      expect(loadConfig({ env, argv: ["--help"], cwd: dir }).httpPort).to.equal(7420);
    });
  });

  describe("redaction and help", () => {
    it("redactedConfig hides secrets and RPC credentials; the logger hides them too", () => {
      const config = loadConfig({
        env: { ...env, VEIL_RPC_URL: "https://user:pass@eth-mainnet.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUv,https://rpc.example/?apikey=s3cr3t" },
        cwd: dir,
      });
      const red = redactedConfig(config);
      const text = JSON.stringify(red);
      expect(red.privateKey).to.equal("[REDACTED]");
      expect(text).to.not.include(PK.slice(2));
      expect(text).to.not.include("AbCdEfGhIjKlMnOpQrStUv");
      expect(text).to.not.include("s3cr3t");
      expect(text).to.not.include("pass@");
      expect(red.rpcUrls).to.deep.equal(["https://***:***@eth-mainnet.g.alchemy.com/v2/***", "https://rpc.example/?apikey=***"]);
      expect(red.autoStake).to.equal("0");

      const lines: string[] = [];
      const log = createLogger({ stream: { write: (s: string) => lines.push(s) } });
      log.info("raw config", { config, keystorePassword: "hunter2" });
      expect(lines.join("")).to.not.include(PK.slice(2)).and.not.include("hunter2");
    });

    it("describeConfig lists every field with env var, flag, default and marks secrets", () => {
      const help = describeConfig();
      for (const f of CONFIG_SCHEMA) {
        expect(help).to.include(f.env);
        expect(help).to.include(f.flag);
      }
      expect(help).to.match(/privateKey \(secret\)\s+VEIL_PRIVATE_KEY/);
      expect(help).to.match(/keystorePassword \(secret\)/);
      expect(help).to.match(/httpPort\s+VEIL_HTTP_PORT\s+--http-port <int>\s+7420/);
      expect(help).to.include("--metrics, --no-metrics");
    });

    it("resolves 'auto' confirmations by chain", () => {
      expect(effectiveConfirmations({ confirmations: "auto" }, 31337)).to.equal(1);
      expect(effectiveConfirmations({ confirmations: "auto" }, 8453)).to.equal(3);
      expect(effectiveConfirmations({ confirmations: 7 }, 31337)).to.equal(7);
    });
  });

  describe("keystore (Web3 Secret Storage v3, decrypted by ethers)", function () {
    this.timeout(30_000);
    const VECTOR_KEY = "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
    const fixture = (name: string) => readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "keystores", name), "utf8");
    /** Decrypting fails with a KeystoreError whose message matches `re` and shows neither the password nor the key. */
    async function refused(keystore: string | object, password: string, re: RegExp) {
      const err = await decryptKeystore(keystore as Record<string, unknown>, password).then(
        () => expect.fail("decryption should fail"),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(KeystoreError);
      expect((err as Error).message).to.match(re);
      const text = `${(err as Error).message} ${String((err as Error).cause ?? "")}`;
      expect(text).to.not.include(password);
      expect(text.toLowerCase()).to.not.include(PK.slice(2)).and.not.include(VECTOR_KEY.slice(2));
    }

    it("decrypts the specification's PBKDF2-SHA-256 test vector, and refuses a wrong password without echoing it", async () => {
      const vector = {
        crypto: {
          cipher: "aes-128-ctr",
          cipherparams: { iv: "6087dab2f9fdbbfaddc31a909735c1e6" },
          ciphertext: "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
          kdf: "pbkdf2",
          kdfparams: { c: 262144, dklen: 32, prf: "hmac-sha256", salt: "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd" },
          mac: "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
        },
        id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        version: 3,
      };
      expect(await decryptKeystore(vector, "testpassword")).to.equal(VECTOR_KEY);
      await refused(vector, "testpassword2", /^wrong keystore password \(MAC mismatch\)$/);
    });

    it("decrypts the specification's scrypt test vector (n=2^18, r=1, p=8: OpenSSL refuses it, @noble/hashes does it)", async () => {
      const vector = {
        crypto: {
          cipher: "aes-128-ctr",
          cipherparams: { iv: "83dbcc02d8ccb40e466191a123791e0e" },
          ciphertext: "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
          kdf: "scrypt",
          kdfparams: { dklen: 32, n: 262144, r: 1, p: 8, salt: "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19" },
          mac: "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
        },
        id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        version: 3,
      };
      expect(await decryptKeystore(JSON.stringify(vector), "testpassword")).to.equal(VECTOR_KEY);
    });

    it("decrypts keystores written by another implementation (EthereumJS wallet 10): pbkdf2, and scrypt with geth's light parameters", async () => {
      // Made once with @ethereumjs/wallet 10.0.0 `toV3` (test/worker/fixtures/keystores), which takes the password's
      // UTF-8 bytes as they are (as geth and the spec do): this one is not NFKC-normal (fullwidth V, the fi ligature).
      const pbkdf2 = fixture("ethereumjs-pbkdf2.json");
      expect(JSON.parse(pbkdf2).crypto).to.include({ kdf: "pbkdf2" });
      expect(await decryptKeystore(pbkdf2, "Ｖeil ﬁxture")).to.equal(PK);
      await refused(pbkdf2, "Veil fixture", /^wrong keystore password/); // its NFKC form is another password
      const scrypt = fixture("ethereumjs-scrypt.json");
      expect(JSON.parse(scrypt).crypto.kdfparams).to.include({ n: 4096, r: 8, p: 6 });
      expect(await decryptKeystore(scrypt, "correct horse battery staple")).to.equal(PK);
      await refused(scrypt, "correct horse battery stapler", /^wrong keystore password/);
      // The section may be spelled "Crypto" (ethers and old tools write that).
      const { crypto, ...rest } = JSON.parse(scrypt) as Record<string, unknown>;
      expect(await decryptKeystore({ ...rest, Crypto: crypto }, "correct horse battery staple")).to.equal(PK);
    });

    it("decrypts a keystore written by ethers (which NFKC-normalises the password), checks its address, refuses tampering and hostile KDF parameters", async () => {
      const wallet = new Wallet(PK);
      const password = "ﬁne pässwörd";
      const ks = JSON.parse(encryptKeystoreJsonSync({ address: wallet.address, privateKey: PK }, password, { scrypt: { N: 1024 } }));
      expect(ks).to.have.property("Crypto"); // ethers writes "Crypto", geth "crypto"
      expect(await decryptKeystore(ks, password)).to.equal(PK);
      const { address: _, ...noAddress } = ks;
      expect(await decryptKeystore(noAddress, password)).to.equal(PK);
      await refused({ ...ks, address: "00".repeat(20) }, password, /address does not match/);
      const tampered = structuredClone(ks);
      tampered.Crypto.ciphertext = `00${ks.Crypto.ciphertext.slice(2)}`;
      await refused(tampered, password, /^wrong keystore password/); // the MAC covers the ciphertext
      const gcm = structuredClone(ks);
      gcm.Crypto.cipher = "aes-256-gcm";
      await refused(gcm, password, /unsupported cipher/);
      const hostile = structuredClone(ks);
      hostile.Crypto.kdfparams.n = 2 ** 30;
      await refused(hostile, password, /kdfparams\.n must be an integer in \[1, 4194304\]/);
      hostile.Crypto.kdfparams = { ...ks.Crypto.kdfparams, n: 2 ** 22, r: 32 };
      await refused(hostile, password, /more than 1 GiB/);
      hostile.Crypto.kdf = "pbkdf2";
      hostile.Crypto.kdfparams = { c: 1e12, dklen: 32, prf: "hmac-sha256", salt: ks.Crypto.kdfparams.salt };
      await refused(hostile, password, /kdfparams\.c/);
      await refused({ ...ks, version: 4 }, password, /unsupported keystore version 4/);
      await refused("{not json", password, /not valid JSON/);
    });

    it("resolvePrivateKey reads the keystore and a password file end to end from loaded config", async () => {
      const ksFile = path.join(dir, "operator.json");
      const pwFile = path.join(dir, "password.txt");
      writeFileSync(ksFile, fixture("ethereumjs-scrypt.json"));
      writeFileSync(pwFile, "correct horse battery staple\n");
      const config = loadConfig({
        env: { VEIL_RPC_URL: env.VEIL_RPC_URL!, VEIL_MODELS: model, VEIL_KEYSTORE: ksFile, VEIL_KEYSTORE_PASSWORD_FILE: pwFile },
        cwd: dir,
      });
      expect(await resolvePrivateKey(config)).to.equal(PK);
      expect(await resolvePrivateKey(loadConfig({ env, cwd: dir }))).to.equal(PK);
      writeFileSync(pwFile, "not the password\n");
      await resolvePrivateKey(config).then(
        () => expect.fail("should fail"),
        (e: unknown) => expect((e as Error).message).to.equal("wrong keystore password (MAC mismatch)"),
      );
    });
  });
});
