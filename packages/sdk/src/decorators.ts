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

/**
 * Every write action comes in two forms, as viem's `writeContract` and `waitForTransactionReceipt`:
 * `writeX` returns at once with the transaction's hash and what was known before it was mined (after the same
 * checks, simulation and payment: nothing is signed before the simulation passes; an approval, when one is needed,
 * is mined first); `X` waits for the receipt and returns what it decodes from the action's events. Simulations run
 * against the latest block: a write that depends on one still pending (a stake after its registration) must wait for
 * it, or its simulation throws the revert it would meet.
 */
export type VeilWalletActions = {
  registerModel: (p: Bound<models.RegisterModelParameters>) => Promise<models.RegisterModelReturnType>;
  writeRegisterModel: (p: Bound<models.RegisterModelParameters>) => Promise<models.WriteRegisterModelReturnType>;
  registerNode: (p: Bound<nodes.RegisterNodeParameters>) => Promise<nodes.RegisterNodeReturnType>;
  writeRegisterNode: (p: Bound<nodes.RegisterNodeParameters>) => Promise<nodes.WriteRegisterNodeReturnType>;
  stake: (p: Bound<nodes.StakeParameters>) => Promise<nodes.StakeReturnType>;
  writeStake: (p: Bound<nodes.StakeParameters>) => Promise<nodes.WriteStakeReturnType>;
  requestUnbond: (p: Bound<nodes.RequestUnbondParameters>) => Promise<nodes.RequestUnbondReturnType>;
  writeRequestUnbond: (p: Bound<nodes.RequestUnbondParameters>) => Promise<nodes.WriteRequestUnbondReturnType>;
  withdrawUnbonded: (p?: Bound<nodes.WithdrawUnbondedParameters>) => Promise<nodes.WithdrawUnbondedReturnType>;
  writeWithdrawUnbonded: (p?: Bound<nodes.WithdrawUnbondedParameters>) => Promise<nodes.WriteWithdrawUnbondedReturnType>;
  joinModel: (p: Bound<nodes.JoinModelParameters>) => Promise<nodes.JoinModelReturnType>;
  writeJoinModel: (p: Bound<nodes.JoinModelParameters>) => Promise<nodes.WriteJoinModelReturnType>;
  leaveModel: (p: Bound<nodes.LeaveModelParameters>) => Promise<nodes.LeaveModelReturnType>;
  writeLeaveModel: (p: Bound<nodes.LeaveModelParameters>) => Promise<nodes.WriteLeaveModelReturnType>;
  claimStakerRewards: (p?: Bound<nodes.ClaimStakerRewardsParameters>) => Promise<nodes.ClaimStakerRewardsReturnType>;
  writeClaimStakerRewards: (p?: Bound<nodes.ClaimStakerRewardsParameters>) => Promise<nodes.WriteClaimStakerRewardsReturnType>;
  submitJob: (p: Bound<jobs.SubmitJobParameters>) => Promise<jobs.SubmitJobReturnType>;
  writeSubmitJob: (p: Bound<jobs.SubmitJobParameters>) => Promise<jobs.WriteSubmitJobReturnType>;
  submitJobs: (p: Bound<jobs.SubmitJobsParameters>) => Promise<jobs.SubmitJobsReturnType>;
  writeSubmitJobs: (p: Bound<jobs.SubmitJobsParameters>) => Promise<jobs.WriteSubmitJobsReturnType>;
  submitResult: (p: Bound<jobs.SubmitResultParameters>) => Promise<jobs.SubmitResultReturnType>;
  writeSubmitResult: (p: Bound<jobs.SubmitResultParameters>) => Promise<jobs.WriteSubmitResultReturnType>;
  declineJob: (p: Bound<jobs.DeclineJobParameters>) => Promise<jobs.DeclineJobReturnType>;
  writeDeclineJob: (p: Bound<jobs.DeclineJobParameters>) => Promise<jobs.WriteDeclineJobReturnType>;
  pokeJob: (p: Bound<jobs.PokeJobParameters>) => Promise<jobs.PokeJobReturnType>;
  writePokeJob: (p: Bound<jobs.PokeJobParameters>) => Promise<jobs.WritePokeJobReturnType>;
  finalizeJob: (p: Bound<jobs.FinalizeJobParameters>) => Promise<jobs.FinalizeJobReturnType>;
  writeFinalizeJob: (p: Bound<jobs.FinalizeJobParameters>) => Promise<jobs.WriteFinalizeJobReturnType>;
  withdrawEarnings: (p?: Bound<fees.WithdrawEarningsParameters>) => Promise<fees.WithdrawEarningsReturnType>;
  writeWithdrawEarnings: (p?: Bound<fees.WithdrawEarningsParameters>) => Promise<fees.WriteWithdrawEarningsReturnType>;
  deposit: (p: Bound<fees.DepositParameters>) => Promise<fees.DepositReturnType>;
  writeDeposit: (p: Bound<fees.DepositParameters>) => Promise<fees.WriteDepositReturnType>;
  withdrawDeposit: (p: Bound<fees.WithdrawDepositParameters>) => Promise<fees.WithdrawDepositReturnType>;
  writeWithdrawDeposit: (p: Bound<fees.WithdrawDepositParameters>) => Promise<fees.WriteWithdrawDepositReturnType>;
  mintCredits: (p: Bound<credits.MintCreditsParameters>) => Promise<credits.MintCreditsReturnType>;
  writeMintCredits: (p: Bound<credits.MintCreditsParameters>) => Promise<credits.WriteMintCreditsReturnType>;
  burnCredits: (p: Bound<credits.BurnCreditsParameters>) => Promise<credits.BurnCreditsReturnType>;
  writeBurnCredits: (p: Bound<credits.BurnCreditsParameters>) => Promise<credits.WriteBurnCreditsReturnType>;
  withdrawUnlockedCredits: (p?: Bound<credits.WithdrawUnlockedCreditsParameters>) => Promise<credits.WithdrawUnlockedCreditsReturnType>;
  writeWithdrawUnlockedCredits: (p?: Bound<credits.WithdrawUnlockedCreditsParameters>) => Promise<credits.WriteWithdrawUnlockedCreditsReturnType>;
  grantAgent: (p: Bound<credits.GrantAgentParameters>) => Promise<credits.GrantAgentReturnType>;
  writeGrantAgent: (p: Bound<credits.GrantAgentParameters>) => Promise<credits.WriteGrantAgentReturnType>;
  revokeAgent: (p: Bound<credits.RevokeAgentParameters>) => Promise<credits.RevokeAgentReturnType>;
  writeRevokeAgent: (p: Bound<credits.RevokeAgentParameters>) => Promise<credits.WriteRevokeAgentReturnType>;
  challenge: (p: Bound<disputes.ChallengeParameters>) => Promise<disputes.ChallengeReturnType>;
  writeChallenge: (p: Bound<disputes.ChallengeParameters>) => Promise<disputes.WriteChallengeReturnType>;
  commitVote: (p: Bound<disputes.CommitVoteParameters>) => Promise<disputes.CommitVoteReturnType>;
  writeCommitVote: (p: Bound<disputes.CommitVoteParameters>) => Promise<disputes.WriteCommitVoteReturnType>;
  revealVote: (p: Bound<disputes.RevealVoteParameters>) => Promise<disputes.RevealVoteReturnType>;
  writeRevealVote: (p: Bound<disputes.RevealVoteParameters>) => Promise<disputes.WriteRevealVoteReturnType>;
  drawCommittee: (p: Bound<disputes.DrawCommitteeParameters>) => Promise<disputes.DrawCommitteeReturnType>;
  writeDrawCommittee: (p: Bound<disputes.DrawCommitteeParameters>) => Promise<disputes.WriteDrawCommitteeReturnType>;
  resolveDispute: (p: Bound<disputes.ResolveDisputeParameters>) => Promise<disputes.ResolveDisputeReturnType>;
  writeResolveDispute: (p: Bound<disputes.ResolveDisputeParameters>) => Promise<disputes.WriteResolveDisputeReturnType>;
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
 * Veil actions that send transactions, for a wallet client with an account (or pass `account` per call). Each
 * comes as `x` (waits for the receipt, returns what its events say) and `writeX` (returns at once with the hash).
 *
 * @example
 * const wallet = createWalletClient({ account, chain, transport: http() }).extend(veilWalletActions({ addresses }))
 * await wallet.stake({ amount: parseEther("5000") })
 * const { hash } = await wallet.writeDeposit({ amount: 10_000_000n })
 * await waitForTransactionReceipt(wallet, { hash }) // from "viem/actions"
 */
export function veilWalletActions(config: VeilActionsConfig) {
  return (client: VeilClient): VeilWalletActions & { veilAddresses: VeilAddresses } => {
    const a = config.addresses;
    return {
      veilAddresses: a,
      registerModel: bind(client, a, models.registerModel),
      writeRegisterModel: bind(client, a, models.writeRegisterModel),
      registerNode: bind(client, a, nodes.registerNode),
      writeRegisterNode: bind(client, a, nodes.writeRegisterNode),
      stake: bind(client, a, nodes.stake),
      writeStake: bind(client, a, nodes.writeStake),
      requestUnbond: bind(client, a, nodes.requestUnbond),
      writeRequestUnbond: bind(client, a, nodes.writeRequestUnbond),
      withdrawUnbonded: bind(client, a, nodes.withdrawUnbonded),
      writeWithdrawUnbonded: bind(client, a, nodes.writeWithdrawUnbonded),
      joinModel: bind(client, a, nodes.joinModel),
      writeJoinModel: bind(client, a, nodes.writeJoinModel),
      leaveModel: bind(client, a, nodes.leaveModel),
      writeLeaveModel: bind(client, a, nodes.writeLeaveModel),
      claimStakerRewards: bind(client, a, nodes.claimStakerRewards),
      writeClaimStakerRewards: bind(client, a, nodes.writeClaimStakerRewards),
      submitJob: bind(client, a, jobs.submitJob),
      writeSubmitJob: bind(client, a, jobs.writeSubmitJob),
      submitJobs: bind(client, a, jobs.submitJobs),
      writeSubmitJobs: bind(client, a, jobs.writeSubmitJobs),
      submitResult: bind(client, a, jobs.submitResult),
      writeSubmitResult: bind(client, a, jobs.writeSubmitResult),
      declineJob: bind(client, a, jobs.declineJob),
      writeDeclineJob: bind(client, a, jobs.writeDeclineJob),
      pokeJob: bind(client, a, jobs.pokeJob),
      writePokeJob: bind(client, a, jobs.writePokeJob),
      finalizeJob: bind(client, a, jobs.finalizeJob),
      writeFinalizeJob: bind(client, a, jobs.writeFinalizeJob),
      withdrawEarnings: bind(client, a, fees.withdrawEarnings),
      writeWithdrawEarnings: bind(client, a, fees.writeWithdrawEarnings),
      deposit: bind(client, a, fees.deposit),
      writeDeposit: bind(client, a, fees.writeDeposit),
      withdrawDeposit: bind(client, a, fees.withdrawDeposit),
      writeWithdrawDeposit: bind(client, a, fees.writeWithdrawDeposit),
      mintCredits: bind(client, a, credits.mintCredits),
      writeMintCredits: bind(client, a, credits.writeMintCredits),
      burnCredits: bind(client, a, credits.burnCredits),
      writeBurnCredits: bind(client, a, credits.writeBurnCredits),
      withdrawUnlockedCredits: bind(client, a, credits.withdrawUnlockedCredits),
      writeWithdrawUnlockedCredits: bind(client, a, credits.writeWithdrawUnlockedCredits),
      grantAgent: bind(client, a, credits.grantAgent),
      writeGrantAgent: bind(client, a, credits.writeGrantAgent),
      revokeAgent: bind(client, a, credits.revokeAgent),
      writeRevokeAgent: bind(client, a, credits.writeRevokeAgent),
      challenge: bind(client, a, disputes.challenge),
      writeChallenge: bind(client, a, disputes.writeChallenge),
      commitVote: bind(client, a, disputes.commitVote),
      writeCommitVote: bind(client, a, disputes.writeCommitVote),
      revealVote: bind(client, a, disputes.revealVote),
      writeRevealVote: bind(client, a, disputes.writeRevealVote),
      drawCommittee: bind(client, a, disputes.drawCommittee),
      writeDrawCommittee: bind(client, a, disputes.writeDrawCommittee),
      resolveDispute: bind(client, a, disputes.resolveDispute),
      writeResolveDispute: bind(client, a, disputes.writeResolveDispute),
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
