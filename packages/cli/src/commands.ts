/**
 * The `veil` command table: every command's arguments, options and help text, declared once. `veil --help`,
 * `veil <group> --help`, `veil <group> <command> --help` and the strict per-command option parsing in main.ts are
 * all generated from it, so a command's help can never list an option it does not accept, or miss one it does.
 */

export type OptionSpec = {
  type: "string" | "boolean";
  /** Placeholder shown in help (`--price <fee units>`). */
  arg?: string;
  desc: string;
  short?: string;
  /** Older or alternative names, accepted and folded into this option. */
  aliases?: readonly string[];
  /** Environment variable read when the flag is absent (shown in help). */
  env?: string;
  required?: boolean;
};

export type CommandSpec = {
  /** "group command", or just "group" for a command without a sub-command (`veil deposit <amount>`). */
  name: string;
  /** Positional arguments as shown in usage (`<jobId>`). */
  args?: string;
  summary: string;
  /** Longer text printed by the command's --help after the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Example lines printed under "Examples". */
  examples?: readonly string[];
};

/** Options every command takes. One vocabulary with the worker (`veil node start`): old names stay aliases. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  "rpc-url": { type: "string", arg: "<url>", env: "VEIL_RPC_URL", aliases: ["rpc"], desc: "JSON-RPC endpoint (default http://127.0.0.1:8545)" },
  "private-key": { type: "string", arg: "<0x..>", env: "VEIL_PRIVATE_KEY", aliases: ["key"], desc: "private key of the sending account (never printed)" },
  deployment: { type: "string", arg: "<file>", env: "VEIL_DEPLOYMENT", aliases: ["addresses-file"], desc: "address book (default deployments/<chainId>.json)" },
  json: { type: "boolean", desc: "print exactly one JSON object on stdout (amounts as base-unit strings)" },
  help: { type: "boolean", short: "h", desc: "help for the command" },
};

const FEE_AMOUNT = "<fee units>";

export const COMMANDS: readonly CommandSpec[] = [
  // ------------------------------------------------------------------------------------------------------------ models
  {
    name: "models register",
    summary: "register an ONNX model: its id, runtime profile and input/output signature come from the file",
    details:
      "The model id is the sha256 of the file. The runtime profile pins what operators must share to agree bit for bit:\n" +
      "the opset is read from the file's opset_import; the onnxruntime version, execution provider and graph\n" +
      "optimisation level come from the options below (defaults: this installation's onnxruntime, cpu, all).\n" +
      "The input/output signature (names, dtypes, shapes with symbolic dims) is read from the graph and stored\n" +
      "on-chain, so the SDK and CLI check every input against it before anything is signed.",
    options: {
      file: { type: "string", arg: "<model.onnx>", desc: "the ONNX model file", required: true },
      price: { type: "string", arg: FEE_AMOUNT, desc: "fee per job and per operator slot, in fee-token units", required: true },
      "royalty-bps": { type: "string", arg: "<n>", desc: "owner's share of each fee in basis points (default 0)" },
      redundancy: { type: "string", arg: "<k>", desc: "default operators per job, 1-7 (default 1)" },
      comparator: { type: "string", arg: "exact|rounded:<decimals>", desc: "how operators' outputs are compared (default exact)" },
      "metadata-uri": { type: "string", arg: "<uri>", desc: "where the model's description lives" },
      "ort-version": { type: "string", arg: "<x.y.z>", desc: "onnxruntime version operators must run (default: the installed one)" },
      "execution-provider": { type: "string", arg: "<name>", desc: "cpu, cuda, ... (default cpu)" },
      "graph-optimization": { type: "string", arg: "disabled|basic|extended|all", desc: "onnxruntime graph optimisation level (default all)" },
      "dry-run": { type: "boolean", desc: "print what would be registered and send nothing" },
    },
    examples: ["veil models register --file model.onnx --price 0.05 --royalty-bps 1000"],
  },
  { name: "models list", summary: "list registered models", options: {} },
  {
    name: "models show",
    args: "<modelId>",
    summary: "one model: terms, runtime profile and input/output signature",
    options: {},
  },
  // ------------------------------------------------------------------------------------------------------------ node
  {
    name: "node register",
    summary: "register the sender as an operator",
    options: {
      endpoint: { type: "string", arg: "<url>", desc: "the worker's public HTTP endpoint", required: true },
      "encryption-key": { type: "string", arg: "<0x..32 bytes>", desc: "X25519 public key for private jobs" },
    },
  },
  {
    name: "node stake",
    summary: "stake VEIL (approves the staking token only after the stake simulates)",
    options: { amount: { type: "string", arg: "<VEIL>", desc: "tokens to stake", required: true } },
  },
  { name: "node join", summary: "serve a model (join its operator pool)", options: { model: { type: "string", arg: "<modelId>", desc: "model id", required: true } } },
  { name: "node leave", summary: "stop serving a model", options: { model: { type: "string", arg: "<modelId>", desc: "model id", required: true } } },
  {
    name: "node unbond",
    summary: "start unbonding stake (withdrawable after the unbonding period)",
    options: { amount: { type: "string", arg: "<VEIL>", desc: "tokens to unbond", required: true } },
  },
  { name: "node withdraw", summary: "withdraw stake whose unbonding period has ended", options: {} },
  {
    name: "node status",
    summary: "an operator's registration, stake, models and earnings",
    options: { address: { type: "string", arg: "<operator>", desc: "whose status (default: the sender)" } },
  },
  {
    name: "node start",
    summary: "run the inference worker (options: veil node start --help)",
    options: {},
  },
  // ------------------------------------------------------------------------------------------------------------ job
  {
    name: "job submit",
    summary: "submit an inference job; checks the input against the model's signature before signing",
    details:
      "input.json names the model's input tensors: {\"x\": {\"type\": \"float32\", \"dims\": [1, 4], \"data\": [1, 2, 3, 4]}}\n" +
      "(flat row-major data; int64 as strings beyond 2^53). Inputs above the escrow's inline limit (16 KiB) are sent\n" +
      "by content address: the chain stores their sha256 and the bytes go straight to the drawn operators.\n" +
      "A refunded job's fee returns to your escrow deposit (see `veil deposit show`); an allowance-paid one to the\n" +
      "compute-credit pool.",
    options: {
      model: { type: "string", arg: "<modelId>", desc: "model id", required: true },
      input: { type: "string", arg: "<file.json>", desc: "input tensors (JSON tensor form)", required: true },
      redundancy: { type: "string", arg: "<k>", desc: "operators (default: the model's)" },
      "max-fee": { type: "string", arg: FEE_AMOUNT, desc: "the most to pay in total (default price x k)" },
      pay: {
        type: "string",
        arg: "transfer|deposit|permit|allowance|auto",
        desc: "how to pay (default: the SDK's: permit when the fee token supports it, else transfer)",
      },
      "allow-non-finite": { type: "boolean", desc: "send NaN/Infinity values (refused by default: they are almost always a bug upstream)" },
      wait: { type: "boolean", desc: "wait for the verified result and print it" },
      timeout: { type: "string", arg: "<seconds>", desc: "with --wait: give up after this long" },
      output: { type: "string", arg: "<file.json>", desc: "with --wait: write the outputs to a file" },
    },
    examples: ["veil job submit --model 0x3f…a1 --input input.json --wait"],
  },
  { name: "job status", args: "<jobId>", summary: "a job's status, operators, windows, and where a refund went", options: {} },
  {
    name: "job result",
    args: "<jobId>",
    summary: "fetch a job's result from an operator, check it against the on-chain hash, decode it",
    options: { output: { type: "string", arg: "<file.json>", desc: "write the outputs to a file" } },
  },
  { name: "job poke", args: "<jobId>", summary: "move a stale job on (anyone): replaces or slashes missed steps, refunds", options: {} },
  { name: "job finalize", args: "<jobId>", summary: "settle a job after its challenge window (anyone)", options: {} },
  // ------------------------------------------------------------------------------------------------------------ credits
  {
    name: "credits mint",
    summary: "lock VEIL on the price curve for compute credits",
    options: {
      amount: { type: "string", arg: "<credits>", desc: "credits to mint", required: true },
      "max-cost": { type: "string", arg: "<VEIL>", desc: "the most VEIL to lock" },
    },
  },
  { name: "credits burn", summary: "burn credits and start the unlock of their VEIL", options: { amount: { type: "string", arg: "<credits>", desc: "credits to burn", required: true } } },
  {
    name: "credits allowance",
    summary: "credits held and today's fee allowance",
    options: {
      address: { type: "string", arg: "<holder>", desc: "whose allowance (default: the sender)" },
      agent: { type: "string", arg: "<address>", desc: "also show what this agent may still spend today" },
    },
  },
  {
    name: "credits grant-agent",
    summary: "let an agent spend part of your daily allowance",
    options: {
      agent: { type: "string", arg: "<address>", desc: "the agent", required: true },
      "daily-cap": { type: "string", arg: FEE_AMOUNT, desc: "most the agent may spend a day", required: true },
    },
  },
  { name: "credits revoke-agent", summary: "revoke an agent", options: { agent: { type: "string", arg: "<address>", desc: "the agent", required: true } } },
  // ------------------------------------------------------------------------------------------------------------ fees
  { name: "fees show", summary: "earnings (operator shares, royalties)", options: { address: { type: "string", arg: "<account>", desc: "whose earnings (default: the sender)" } } },
  { name: "fees withdraw", summary: "withdraw earnings", options: { to: { type: "string", arg: "<address>", desc: "recipient (default: the sender)" } } },
  // ------------------------------------------------------------------------------------------------------------ deposit
  {
    name: "deposit",
    args: "<amount>",
    summary: "prepay fee tokens into the escrow (refunds land here too)",
    options: {},
  },
  { name: "deposit show", summary: "the escrow deposit of an account", options: { address: { type: "string", arg: "<account>", desc: "whose deposit (default: the sender)" } } },
  {
    name: "deposit withdraw",
    args: "<amount>",
    summary: "take fee tokens out of the escrow deposit",
    options: { to: { type: "string", arg: "<address>", desc: "recipient (default: the sender)" } },
  },
  // ------------------------------------------------------------------------------------------------------------ dev
  {
    name: "dev time",
    summary: "local chains only: show the chain's time, or move it forward (challenge windows, unbonding)",
    details: "Works on a local Hardhat or anvil node (chain 31337/1337); refuses any other chain.",
    options: {
      advance: { type: "string", arg: "<duration>", desc: "move time forward, e.g. 90s, 1h, 1h30m, 21d; mines a block" },
    },
    examples: ["veil dev time --advance 1h        # past a job's challenge window", "veil dev time --advance 21d       # past the unbonding period"],
  },
  {
    name: "dev mine",
    summary: "local chains only: mine blocks",
    options: { blocks: { type: "string", arg: "<n>", desc: "how many (default 1)" } },
  },
];

export const GROUPS: Record<string, string> = {
  models: "Models",
  node: "Nodes",
  job: "Jobs",
  credits: "Compute credits",
  fees: "Fees",
  deposit: "Deposits",
  dev: "Local chain",
};

export function findCommand(positionals: readonly string[]): { spec: CommandSpec; rest: string[] } | undefined {
  const [a, b] = positionals;
  if (a === undefined) return undefined;
  const two = b === undefined ? undefined : COMMANDS.find((c) => c.name === `${a} ${b}`);
  if (two) return { spec: two, rest: positionals.slice(2) };
  const one = COMMANDS.find((c) => c.name === a);
  if (one) return { spec: one, rest: positionals.slice(1) };
  return undefined;
}

function optionLine(name: string, o: OptionSpec): [string, string] {
  const flag = `${o.short ? `-${o.short}, ` : ""}--${name}${o.arg ? ` ${o.arg}` : ""}`;
  const extra = [o.env ? `env ${o.env}` : "", o.aliases?.length ? `alias ${o.aliases.map((a) => `--${a}`).join(", ")}` : ""].filter(Boolean);
  return [flag, `${o.desc}${extra.length ? ` (${extra.join("; ")})` : ""}`];
}

function table(rows: [string, string][], indent = "  "): string {
  const width = Math.min(40, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => (l.length > width ? `${indent}${l}\n${indent}${" ".repeat(width)}  ${r}` : `${indent}${l.padEnd(width)}  ${r}`)).join("\n");
}

export function usageLine(c: CommandSpec): string {
  const required = Object.entries(c.options)
    .filter(([, o]) => o.required)
    .map(([n, o]) => `--${n}${o.arg ? ` ${o.arg}` : ""}`);
  const optional = Object.values(c.options).some((o) => !o.required) ? ["[options]"] : [];
  return ["veil", c.name, c.args ?? "", ...required, ...optional].filter(Boolean).join(" ");
}

export function commandHelp(c: CommandSpec): string {
  const parts = [`${usageLine(c)}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`];
  if (c.details) parts.push(c.details);
  const own = Object.entries(c.options);
  if (own.length) parts.push(`Options:\n${table(own.map(([n, o]) => optionLine(n, o)))}`);
  parts.push(`Global options:\n${table(Object.entries(GLOBAL_OPTIONS).map(([n, o]) => optionLine(n, o)))}`);
  if (c.examples?.length) parts.push(`Examples:\n${c.examples.map((e) => `  ${e}`).join("\n")}`);
  return parts.join("\n\n");
}

export function groupHelp(group: string): string {
  const cmds = COMMANDS.filter((c) => c.name === group || c.name.startsWith(`${group} `));
  return `${GROUPS[group] ?? group}:\n${table(cmds.map((c) => [usageLine(c), c.summary]))}\n\nRun \`veil ${group} <command> --help\` for a command's options.`;
}

export function mainHelp(): string {
  const sections = Object.entries(GROUPS).map(([g, title]) => {
    const cmds = COMMANDS.filter((c) => c.name === g || c.name.startsWith(`${g} `));
    return `${title}\n${cmds.map((c) => `  ${usageLine(c)}`).join("\n")}`;
  });
  return [
    "veil: command line for the Veil inference protocol",
    "",
    "Usage: veil <group> <command> [options]          veil <group> <command> --help for a command's options",
    "",
    sections.join("\n"),
    "",
    `Options (every command)\n${table(Object.entries(GLOBAL_OPTIONS).map(([n, o]) => optionLine(n, o)))}`,
    "",
    "Amounts are decimal token units (--price 0.05 is 50000 base units of a 6-decimal fee token; --amount 5000 is 5000 VEIL).",
    "Docs: docs/cli.md",
  ].join("\n");
}
