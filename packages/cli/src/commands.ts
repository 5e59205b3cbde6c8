/**
 * The `veil` command table: every command's arguments, options and help text, declared once. The commander program
 * (buildProgram below: parsing, `veil --help`, `veil <group> --help`, `veil <group> <command> --help`) and the
 * reference in docs/cli.md (scripts/cli-docs.ts) are generated from it, so neither can list an option a command
 * does not accept, or miss one it does.
 */
import { Command, CommanderError, Help, Option } from "commander";
import { VeilError } from "@veil/sdk";

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
  /** The only values accepted (checked by the parser, listed in help). */
  choices?: readonly string[];
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

/** Help text of a command taking a job id. */
const JOB_ID = "<jobId>: 0x and 32 hex digits as `veil job submit` prints it (tag, generation, record), or the same number in decimal.";

/** onnxruntime's graph optimisation levels, in the order of their on-chain index. */
export const GRAPH_LEVELS = ["disabled", "basic", "extended", "all"] as const;

export const COMMANDS: readonly CommandSpec[] = [
  // ------------------------------------------------------------------------------------------------------------ models
  {
    name: "models register",
    summary: "register an ONNX model: its id, runtime profile and input/output signature come from the file",
    details:
      "The model id is the sha256 of the file. The runtime profile pins what operators must share to agree bit for bit: " +
      "the opset is read from the file's opset_import; the onnxruntime version, execution provider and graph " +
      "optimisation level come from the options below (defaults: this installation's onnxruntime, cpu, all).\n\n" +
      "The input/output signature (names, dtypes, shapes with symbolic dims) is read from the graph and stored " +
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
      "graph-optimization": { type: "string", arg: "<level>", choices: GRAPH_LEVELS, desc: "onnxruntime graph optimisation level (default all)" },
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
      "input.json names the model's input tensors: {\"x\": {\"type\": \"float32\", \"dims\": [1, 4], \"data\": [1, 2, 3, 4]}} " +
      "(flat row-major data; int64 as strings beyond 2^53).\n\nInputs above the escrow's inline limit (16 KiB) are sent " +
      "by content address: the chain stores their sha256 and the bytes go straight to the drawn operators.\n\n" +
      "Job ids are 0x and 32 hex digits (`tag << 64 | generation << 32 | record`, the tag from the model and input): " +
      "`veil job status|result|poke|finalize` take them as printed, or in decimal.\n\n" +
      "Fees are collected by the FeeLedger (the escrow's ledger, which holds every balance): a refunded job's fee " +
      "returns to your deposit there (see `veil deposit show`); an allowance-paid one to the compute-credit pool's.",
    options: {
      model: { type: "string", arg: "<modelId>", desc: "model id", required: true },
      input: { type: "string", arg: "<file.json>", desc: "input tensors (JSON tensor form)", required: true },
      redundancy: { type: "string", arg: "<k>", desc: "operators (default: the model's)" },
      "max-fee": { type: "string", arg: FEE_AMOUNT, desc: "the most to pay in total (default price x k)" },
      pay: {
        type: "string",
        arg: "<how>",
        choices: ["transfer", "deposit", "permit", "allowance", "auto"],
        desc: "how to pay (default: the SDK's: permit when the fee token supports it, else transfer)",
      },
      "allow-non-finite": { type: "boolean", desc: "send NaN/Infinity values (refused by default: they are almost always a bug upstream)" },
      wait: { type: "boolean", desc: "wait for the verified result and print it" },
      timeout: { type: "string", arg: "<seconds>", desc: "with --wait: give up after this long" },
      output: { type: "string", arg: "<file.json>", desc: "with --wait: write the outputs to a file" },
    },
    examples: ["veil job submit --model 0x3f…a1 --input input.json --wait"],
  },
  { name: "job status", args: "<jobId>", summary: "a job's status, operators, windows, and where a refund went", details: JOB_ID, options: {} },
  {
    name: "job result",
    args: "<jobId>",
    details: JOB_ID,
    summary: "fetch a job's result from an operator, check it against the on-chain hash, decode it",
    options: { output: { type: "string", arg: "<file.json>", desc: "write the outputs to a file" } },
  },
  { name: "job poke", args: "<jobId>", summary: "move a stale job on (anyone): replaces or slashes missed steps, refunds", details: JOB_ID, options: {} },
  { name: "job finalize", args: "<jobId>", summary: "settle a job after its challenge window (anyone)", details: JOB_ID, options: {} },
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
  { name: "fees show", summary: "earnings (operator shares, royalties) held by the FeeLedger", options: { address: { type: "string", arg: "<account>", desc: "whose earnings (default: the sender)" } } },
  { name: "fees withdraw", summary: "withdraw earnings from the FeeLedger", options: { to: { type: "string", arg: "<address>", desc: "recipient (default: the sender)" } } },
  // ------------------------------------------------------------------------------------------------------------ deposit
  {
    name: "deposit",
    args: "<amount>",
    summary: "prepay fee tokens into your deposit in the FeeLedger (approves the ledger; refunds land here too)",
    options: {},
  },
  { name: "deposit show", summary: "an account's deposit in the FeeLedger", options: { address: { type: "string", arg: "<account>", desc: "whose deposit (default: the sender)" } } },
  {
    name: "deposit withdraw",
    args: "<amount>",
    summary: "take fee tokens out of your deposit in the FeeLedger",
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


// ---------------------------------------------------------------------------------------------------------------------
// The commander program, built from the table above: parsing, per-command help and usage errors.

/** Each command's table entry. */
const COMMAND_SPEC = new WeakMap<Command, CommandSpec>();

/** A mistake in the command line (exit code 2). `command` names the command whose --help the error points to. */
export class UsageError extends VeilError {
  override name = "UsageError";
  command?: string;
}

/** Parsed option values of one command (its own options and the global ones), keyed by the table's names. */
export type Values = Record<string, string | boolean | undefined>;

/** What a command's action receives: its spec, its option values with aliases folded in, its arguments. */
export type Invocation = { spec: CommandSpec; values: Values; positionals: string[] };

/** `veil job submit --model <modelId> --input <file.json> [options]`: arguments, required options, then [options]. */
export function usageLine(c: CommandSpec): string {
  const required = Object.entries(c.options)
    .filter(([, o]) => o.required)
    .map(([n, o]) => flags(n, o));
  const optional = Object.values(c.options).some((o) => !o.required) ? ["[options]"] : [];
  return ["veil", c.name, c.args ?? "", ...required, ...optional].filter(Boolean).join(" ");
}

function flags(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.arg ?? "<value>"}` : ""}`;
}

/** The option's description as help and docs print it: aliases after the text (commander adds the env variable). */
export function optionDescription(o: OptionSpec): string {
  return o.aliases?.length ? `${o.desc} (alias ${o.aliases.map((a) => `--${a}`).join(", ")})` : o.desc;
}

function addOptions(cmd: Command, options: Record<string, OptionSpec>) {
  for (const [name, o] of Object.entries(options)) {
    if (name === "help") continue; // commander's own help option, configured in buildProgram
    if (o.type === "string" && !/^[<[]|<.*>/.test(o.arg ?? "<")) throw new Error(`veil ${cmd.name()} --${name}: arg must name a <value>`);
    const opt = new Option(flags(name, o), optionDescription(o));
    if (o.env) opt.env(o.env);
    if (o.required) opt.makeOptionMandatory();
    if (o.choices) opt.choices(o.choices);
    cmd.addOption(opt);
    for (const a of o.aliases ?? []) cmd.addOption(new Option(flags(a, { ...o, short: undefined }), `alias of --${name}`).hideHelp());
  }
}

/** The values of `options` as `cmd` parsed them; an alias's value goes to its option, and both given differently is an error. */
function valuesOf(cmd: Command, options: Record<string, OptionSpec>, usage: (m: string) => UsageError): Values {
  const values: Values = {};
  const key = (name: string) => new Option(`--${name}`).attributeName();
  for (const [name, o] of Object.entries(options)) {
    let value = cmd.getOptionValue(key(name));
    let source = cmd.getOptionValueSource(key(name));
    for (const a of o.aliases ?? []) {
      const v = cmd.getOptionValue(key(a));
      if (v === undefined) continue;
      if (source === "cli" && v !== value) throw usage(`--${a} and --${name} are the same option; pass one`);
      [value, source] = [v, "cli"];
    }
    values[name] = value;
  }
  return values;
}

/** `job status` for a command (empty for the program itself). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Commander's parse errors as UsageErrors in the CLI's words, naming the command whose --help to read. */
function usageErrorFrom(e: CommanderError, cmd: Command): UsageError {
  const path = commandPath(cmd);
  const where = path ? ` for \`veil ${path}\`` : "";
  const suggestion = / \(Did you mean ([^?]+)\?\)/.exec(e.message.replace(/\n/g, " "))?.[1];
  const hint = suggestion ? ` (did you mean ${suggestion}?)` : "";
  let message = e.message.replace(/^error: /, "").split("\n")[0]!;
  if (e.code === "commander.unknownOption") message = `unknown option ${/'([^']+)'/.exec(message)?.[1]}${where}${hint}`;
  else if (e.code === "commander.unknownCommand") {
    const name = cmd.args[0];
    message = path ? `unknown command: veil ${path} ${name} (see veil ${path} --help)${hint}` : `unknown command group ${JSON.stringify(name)} (see veil --help)${hint}`;
  } else if (e.code === "commander.excessArguments") message = `unexpected argument ${JSON.stringify(cmd.args[cmd.registeredArguments.length])}${where}`;
  else if (e.code === "commander.missingArgument") message = `missing <${/'([^']+)'/.exec(message)?.[1]}>${where}`;
  else if (e.code === "commander.missingMandatoryOptionValue") message = `missing ${/'([^']+)'/.exec(message)?.[1]}${where}`;
  const err = new UsageError(message, { cause: e });
  err.command = path || undefined;
  return err;
}

/**
 * The `veil` program: one commander command per table entry (groups as parents), global options on the program,
 * help generated by commander from the same options. `run` is called with the parsed command. Parse errors throw
 * a UsageError; help throws commander's CommanderError with exitCode 0 (or 1 when a group was given no command).
 */
export function buildProgram(io: { stdout: (s: string) => void; stderr: (s: string) => void }, run: (inv: Invocation) => Promise<void>): Command {
  const program = new Command("veil")
    .description("veil: command line for the Veil inference protocol")
    .usage("<group> <command> [options]")
    .helpOption(flags("help", GLOBAL_OPTIONS.help!), GLOBAL_OPTIONS.help!.desc)
    .helpCommand(false)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} })
    .configureHelp({
      showGlobalOptions: true,
      // A command is listed by its full usage line, so a group's help (and the program's) can be copied from.
      subcommandTerm: (c) => (COMMAND_SPEC.get(c) ? usageLine(COMMAND_SPEC.get(c)!) : `veil ${commandPath(c)}${c.usage() ? ` ${c.usage()}` : ""}`),
      // A term too wide to leave room for its description goes on a line of its own, the description under it.
      formatItem(term, termWidth, description, helper) {
        const width = helper.helpWidth ?? 80;
        if (!description || width - termWidth - 4 >= helper.minWidthToWrap) return Help.prototype.formatItem.call(helper, term, termWidth, description, helper);
        return `  ${term}\n${helper.boxWrap(description, width - 6).replace(/^/gm, "      ")}`;
      },
      // The program's help lists every command, grouped; a group's lists its own.
      visibleCommands: (c) => (c.parent ? [...c.commands] : c.commands.flatMap((g) => (g.commands.length ? [...(COMMAND_SPEC.has(g) ? [g] : []), ...g.commands] : [g]))),
    })
    .addHelpText("after", "\nAmounts are decimal token units (--price 0.05 is 50000 base units of a 6-decimal fee token; --amount 5000 is 5000 VEIL).\nDocs: docs/cli.md");
  const usage = (cmd: Command) => (m: string) => Object.assign(new UsageError(m), { command: commandPath(cmd) });
  const exitOverride = (cmd: Command) =>
    cmd.exitOverride((e) => {
      throw e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version" ? e : usageErrorFrom(e, cmd);
    });
  exitOverride(program);
  const globals = Object.fromEntries(Object.entries(GLOBAL_OPTIONS).filter(([n]) => n !== "help"));
  addOptions(program, globals);

  const groups = new Map<string, Command>();
  const groupOf = (name: string) => {
    let g = groups.get(name);
    if (!g) {
      g = exitOverride(program.command(name).helpCommand(false).helpGroup(`${GROUPS[name] ?? name}:`).usage("<command> [options]"));
      g.description(GROUPS[name] ?? name).commandsGroup(`${GROUPS[name] ?? name}:`);
      groups.set(name, g);
    }
    return g;
  };
  for (const spec of COMMANDS) {
    const [group, sub] = spec.name.split(" ") as [string, string | undefined];
    const cmd = sub ? exitOverride(groupOf(group).command(sub)) : groupOf(group);
    COMMAND_SPEC.set(cmd, spec);
    cmd.usage(usageLine(spec).slice(`veil ${spec.name}`.length).trim()).summary(spec.summary);
    cmd.description([`${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`, spec.details ?? ""].filter(Boolean).join("\n\n"));
    if (spec.name === "node start") {
      // The worker parses its own options and prints its own --help (main() hands it the command line untouched).
      cmd.helpOption(false).allowUnknownOption().allowExcessArguments().argument("[worker options...]");
    } else {
      for (const a of spec.args?.split(" ") ?? []) cmd.argument(a);
      addOptions(cmd, spec.options);
    }
    if (spec.examples?.length) cmd.addHelpText("after", `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join("\n")}`);
    cmd.action(async () => {
      const values = { ...valuesOf(program, globals, usage(cmd)), ...valuesOf(cmd, spec.options, usage(cmd)) };
      await run({ spec, values, positionals: cmd.args });
    });
  }
  program
    .command("help [command...]")
    .helpOption(false)
    .description("help for a command: veil help job submit")
    .action((words: string[]) => {
      let target = program;
      for (const w of words) target = target.commands.find((c) => c.name() === w) ?? target;
      target.outputHelp();
    });
  // The program lists every command in its help, so commander's "did you mean" for a group would name a command.
  program.showSuggestionAfterError(false);
  return program;
}
