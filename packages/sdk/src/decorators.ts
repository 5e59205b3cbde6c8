import type { VeilAddresses } from "./addresses.js";
import type { VeilClient } from "./internal.js";
import * as models from "./actions/models.js";
import * as nodes from "./actions/nodes.js";
import * as jobs from "./actions/jobs.js";
import * as fees from "./actions/fees.js";
import * as credits from "./actions/credits.js";
import * as disputes from "./actions/disputes.js";

/** Parameters of a bound action: `addresses` comes from the decorator. */
type Bound<P> = P extends { addresses: VeilAddresses } ? Omit<P, "addresses"> & { addresses?: VeilAddresses | undefined } : P;

export type VeilPublicActions = {
  getModel: (p: Bound<models.GetModelParameters>) => Promise<models.GetModelReturnType>;
  listModels: (p?: Bound<models.ListModelsParameters>) => Promise<models.ListModelsReturnType>;
  getNode: (p: Bound<nodes.GetNodeParameters>) => Promise<nodes.GetNodeReturnType>;
  getJob: (p: Bound<jobs.GetJobParameters>) => Promise<jobs.GetJobReturnType>;
  getJobHistory: (p: Bound<jobs.GetJobParameters>) => Promise<jobs.Job | undefined>;
  watchJob: (p: Bound<jobs.WatchJobParameters>) => jobs.WatchJobReturnType;
  getJobResult: (p: Bound<jobs.GetJobResultParameters>) => Promise<jobs.GetJobResultReturnType>;
  waitForResult: (p: Bound<jobs.WaitForResultParameters>) => Promise<jobs.WaitForResultReturnType>;
  getEarnings: (p: Bound<fees.GetEarningsParameters>) => Promise<fees.GetEarningsReturnType>;
  getDeposit: (p: Bound<fees.GetDepositParameters>) => Promise<fees.GetDepositReturnType>;
  getCreditAllowance: (p: Bound<credits.GetCreditAllowanceParameters>) => Promise<credits.GetCreditAllowanceReturnType>;
  getDispute: (p: Bound<disputes.GetDisputeParameters>) => Promise<disputes.GetDisputeReturnType>;
};

export type VeilWalletActions = {
  registerModel: (p: Bound<models.RegisterModelParameters>) => Promise<models.RegisterModelReturnType>;
  registerNode: (p: Bound<nodes.RegisterNodeParameters>) => Promise<nodes.RegisterNodeReturnType>;
  stake: (p: Bound<nodes.StakeParameters>) => Promise<nodes.StakeReturnType>;
  requestUnbond: (p: Bound<nodes.RequestUnbondParameters>) => Promise<nodes.RequestUnbondReturnType>;
  withdrawUnbonded: (p?: Bound<nodes.WithdrawUnbondedParameters>) => Promise<nodes.WithdrawUnbondedReturnType>;
  joinModel: (p: Bound<nodes.JoinModelParameters>) => Promise<nodes.JoinModelReturnType>;
  leaveModel: (p: Bound<nodes.LeaveModelParameters>) => Promise<nodes.LeaveModelReturnType>;
  claimStakerRewards: (p?: Bound<nodes.ClaimStakerRewardsParameters>) => Promise<nodes.ClaimStakerRewardsReturnType>;
  submitJob: (p: Bound<jobs.SubmitJobParameters>) => Promise<jobs.SubmitJobReturnType>;
  submitJobs: (p: Bound<jobs.SubmitJobsParameters>) => Promise<jobs.SubmitJobsReturnType>;
  submitResult: (p: Bound<jobs.SubmitResultParameters>) => Promise<jobs.SubmitResultReturnType>;
  declineJob: (p: Bound<jobs.DeclineJobParameters>) => Promise<jobs.DeclineJobReturnType>;
  pokeJob: (p: Bound<jobs.PokeJobParameters>) => Promise<jobs.PokeJobReturnType>;
  finalizeJob: (p: Bound<jobs.FinalizeJobParameters>) => Promise<jobs.FinalizeJobReturnType>;
  withdrawEarnings: (p?: Bound<fees.WithdrawEarningsParameters>) => Promise<fees.WithdrawEarningsReturnType>;
  deposit: (p: Bound<fees.DepositParameters>) => Promise<fees.DepositReturnType>;
  withdrawDeposit: (p: Bound<fees.WithdrawDepositParameters>) => Promise<fees.WithdrawDepositReturnType>;
  mintCredits: (p: Bound<credits.MintCreditsParameters>) => Promise<credits.MintCreditsReturnType>;
  burnCredits: (p: Bound<credits.BurnCreditsParameters>) => Promise<credits.BurnCreditsReturnType>;
  withdrawUnlockedCredits: (p?: Bound<credits.WithdrawUnlockedCreditsParameters>) => Promise<credits.WithdrawUnlockedCreditsReturnType>;
  grantAgent: (p: Bound<credits.GrantAgentParameters>) => Promise<credits.GrantAgentReturnType>;
  revokeAgent: (p: Bound<credits.RevokeAgentParameters>) => Promise<credits.RevokeAgentReturnType>;
  challenge: (p: Bound<disputes.ChallengeParameters>) => Promise<disputes.ChallengeReturnType>;
  commitVote: (p: Bound<disputes.CommitVoteParameters>) => Promise<disputes.CommitVoteReturnType>;
  revealVote: (p: Bound<disputes.RevealVoteParameters>) => Promise<disputes.RevealVoteReturnType>;
  drawCommittee: (p: Bound<disputes.DisputeJobParameters>) => ReturnType<typeof disputes.drawCommittee>;
  resolveDispute: (p: Bound<disputes.DisputeJobParameters>) => ReturnType<typeof disputes.resolveDispute>;
};

export type VeilActions = VeilPublicActions & VeilWalletActions & { veilAddresses: VeilAddresses };

export type VeilActionsConfig = { addresses: VeilAddresses };

function bind<P extends { addresses: VeilAddresses }, R>(client: VeilClient, addresses: VeilAddresses, fn: (c: VeilClient, p: P) => R) {
  return (p?: Bound<P>): R => fn(client, { ...(p ?? {}), addresses: p?.addresses ?? addresses } as P);
}

/**
 * Read-only Veil actions, for a public client.
 *
 * @example
 * const client = createPublicClient({ chain, transport: http() }).extend(veilPublicActions({ addresses }))
 * const job = await client.getJob({ jobId: 1n })
 */
export function veilPublicActions(config: VeilActionsConfig) {
  return (client: VeilClient): VeilPublicActions & { veilAddresses: VeilAddresses } => {
    const a = config.addresses;
    return {
      veilAddresses: a,
      getModel: bind(client, a, models.getModel),
      listModels: bind(client, a, models.listModels),
      getNode: bind(client, a, nodes.getNode),
      getJob: bind(client, a, jobs.getJob),
      getJobHistory: bind(client, a, jobs.getJobHistory),
      watchJob: bind(client, a, jobs.watchJob),
      getJobResult: bind(client, a, (c, p: jobs.GetJobResultParameters) => jobs.getJobResult(c, p)),
      waitForResult: bind(client, a, jobs.waitForResult),
      getEarnings: bind(client, a, fees.getEarnings),
      getDeposit: bind(client, a, fees.getDeposit),
      getCreditAllowance: bind(client, a, credits.getCreditAllowance),
      getDispute: bind(client, a, disputes.getDispute),
    };
  };
}

/**
 * Veil actions that send transactions, for a wallet client with an account (or pass `account` per call).
 *
 * @example
 * const wallet = createWalletClient({ account, chain, transport: http() }).extend(veilWalletActions({ addresses }))
 * await wallet.stake({ amount: parseEther("5000") })
 */
export function veilWalletActions(config: VeilActionsConfig) {
  return (client: VeilClient): VeilWalletActions & { veilAddresses: VeilAddresses } => {
    const a = config.addresses;
    return {
      veilAddresses: a,
      registerModel: bind(client, a, models.registerModel),
      registerNode: bind(client, a, nodes.registerNode),
      stake: bind(client, a, nodes.stake),
      requestUnbond: bind(client, a, nodes.requestUnbond),
      withdrawUnbonded: bind(client, a, nodes.withdrawUnbonded),
      joinModel: bind(client, a, nodes.joinModel),
      leaveModel: bind(client, a, nodes.leaveModel),
      claimStakerRewards: bind(client, a, nodes.claimStakerRewards),
      submitJob: bind(client, a, jobs.submitJob),
      submitJobs: bind(client, a, jobs.submitJobs),
      submitResult: bind(client, a, jobs.submitResult),
      declineJob: bind(client, a, jobs.declineJob),
      pokeJob: bind(client, a, jobs.pokeJob),
      finalizeJob: bind(client, a, jobs.finalizeJob),
      withdrawEarnings: bind(client, a, fees.withdrawEarnings),
      deposit: bind(client, a, fees.deposit),
      withdrawDeposit: bind(client, a, fees.withdrawDeposit),
      mintCredits: bind(client, a, credits.mintCredits),
      burnCredits: bind(client, a, credits.burnCredits),
      withdrawUnlockedCredits: bind(client, a, credits.withdrawUnlockedCredits),
      grantAgent: bind(client, a, credits.grantAgent),
      revokeAgent: bind(client, a, credits.revokeAgent),
      challenge: bind(client, a, disputes.challenge),
      commitVote: bind(client, a, disputes.commitVote),
      revealVote: bind(client, a, disputes.revealVote),
      drawCommittee: bind(client, a, disputes.drawCommittee),
      resolveDispute: bind(client, a, disputes.resolveDispute),
    };
  };
}

/**
 * Every Veil action bound to one deployment (the read actions work on any client; the write actions need an
 * account on the client or in their parameters).
 *
 * @example
 * const veil = createWalletClient({ account, chain, transport: http(rpcUrl) }).extend(veilActions({ addresses }))
 * const { jobId } = await veil.submitJob({ modelId, inputs })
 * const { outputs } = await veil.waitForResult({ jobId })
 */
export function veilActions(config: VeilActionsConfig) {
  return (client: VeilClient): VeilActions => ({
    ...veilPublicActions(config)(client),
    ...veilWalletActions(config)(client),
  });
}
