// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISlashWindowSource} from "./ISlashWindowSource.sol";
import {IFeeLedger} from "./IFeeLedger.sol";
import {JobId} from "../types/JobId.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessManaged} from "@openzeppelin/contracts/access/manager/IAccessManaged.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {INodeStaking} from "./INodeStaking.sol";

/// @title IJobEscrow
/// @notice The job lifecycle core. A requester submits a job and its fee (price x redundancy) is collected by the
/// FeeLedger (IFeeLedger), which holds every balance; k distinct operators are drawn stake-weighted at submission.
/// At k = 1 the operator posts its result hash directly; at k > 1 operators commit to
/// keccak256(escrow, chainid, jobId, operator, resultHash, salt) and reveal once every slot has committed.
/// Agreeing results become final after a challenge window; a disagreement or a challenge puts the job in dispute
/// (resolved by the DISPUTER role, or refunded once the dispute window passes). Every state has a deadline and
/// anyone can move a stale job on with `poke`. Every escrowed coin is either paid out at finalization or
/// refundable to the payer: there is no other exit.
/// Terms are fixed at submission: the job records the version of the governance parameters in force (windows,
/// collateral, miss penalty, treasury and staker shares) and the model's royalty, and settles under those even
/// when governance or the model owner changes them later.
/// Job ids (JobId) are `tag << 64 | generation << 32 | record index`: a job that settles without a dispute frees
/// its storage record for a later submission (next generation), and the tag commits to the model and input, so a
/// post made for one submission never settles another.
/// The implementation also has OpenZeppelin's `multicall(bytes[])` (each call a delegatecall to the escrow itself,
/// msg.sender preserved; no function is payable), and forwards every read-only function of IJobEscrowViews to its
/// read-only extension (delegatecall, the escrow's own storage), so all of them are called at the escrow's address.
interface IJobEscrow {
    enum Status {
        None,
        Assigned, // k = 1: waiting for the result; k > 1: waiting for commitments
        Revealing, // k > 1: every slot committed, waiting for reveals
        Proposed, // results agree; challenge window open until phaseEnd
        Disputed, // results disagree, or a challenge was opened; resolution due by phaseEnd
        Finalized, // paid out
        Refunded // payer refunded in full
    }

    enum RefundReason {
        DeadlinePassed, // a slot could not be filled again before the job's deadline
        NoReveals, // every operator missed the reveal
        DisputeUnresolved, // the dispute window passed without a resolution
        NoValidResult // the dispute found no operator result correct
    }

    enum DisputeReason {
        Disagreement,
        Challenge
    }

    /// @notice Where missed-step penalties go.
    enum SlashDestination {
        Treasury,
        Burn,
        Caller // the keeper who called `poke`
    }

    struct SubmitParams {
        bytes32 modelId;
        uint8 redundancy; // 0 = the model's default
        uint80 maxFee; // the most the requester pays in total (price x redundancy)
        uint32 deadline; // the latest time a result may be proposed
        bytes input; // inline canonical input (exclusive with inputURI)
        string inputURI; // input by reference ...
        bytes32 inputHash; // ... and its sha256
    }

    struct Params {
        uint32 commitWindow; // time an assigned operator has to take up its slot (commit, or post at k = 1)
        uint32 revealWindow; // k > 1: time to reveal once everyone committed
        uint32 challengeWindow; // time anyone can challenge an agreed result
        uint32 disputeWindow; // time a dispute has to resolve before the job is refunded
        uint32 maxJobDuration; // latest allowed deadline, from submission
        uint32 maxInputBytes; // inline input bound
        uint16 treasuryBps;
        uint16 stakersBps;
        uint16 maxRoyaltyBps; // cap on any model owner's royalty
        SlashDestination missSlashTo;
        uint80 minPrice; // per slot: covers the operators' gas, against spam of cheap jobs
        uint96 collateral; // staking-token collateral locked per slot
        uint96 missPenalty; // slashed from the collateral of an operator that misses a step
        address treasury;
    }

    struct JobView {
        address requester;
        bytes32 modelId;
        Status status;
        uint8 payerModule; // 0: the requester paid (transfer, permit or deposit); else the ledger's payer module id
        address payer; // who refunds go to: the requester, or the payer module
        uint8 redundancy;
        uint80 price; // per slot
        uint32 deadline;
        uint32 phaseEnd;
        address[] operators;
        bytes32[] slotHashes; // commitment, then revealed result hash, per slot (zero until the slot posts)
        uint8 commitMask; // k > 1: slots that committed
        uint8 revealMask; // slots whose result hash is public (k = 1: posted; k > 1: revealed)
        uint8 declinedMask; // slots that declined (see `decline`) and were not replaced yet
        uint8 missedMask; // k > 1: slots slashed and dropped for missing the reveal
        bytes32 result; // agreed (or dispute-resolved) result hash, 0 while none
        uint16 termsVersion; // the governance parameters the job settles under (`paramsAt`)
        uint16 royaltyBps; // the model owner's royalty, fixed at submission (capped by the terms)
    }

    event JobSubmitted(
        JobId indexed jobId,
        address indexed requester,
        bytes32 indexed modelId,
        uint8 redundancy,
        uint256 fee,
        uint32 deadline,
        uint8 payerModule,
        uint16 termsVersion, // the governance parameters the job settles under (`paramsAt`)
        uint16 royaltyBps, // the model owner's royalty, fixed at submission
        bytes32 inputHash,
        bytes input,
        string inputURI
    );
    event OperatorsAssigned(JobId indexed jobId, uint8[] slots, address[] operators, uint32 phaseEnd);
    event ResultCommitted(JobId indexed jobId, uint8 slot, address indexed operator);
    event RevealPhaseStarted(JobId indexed jobId, uint32 phaseEnd);
    event ResultRevealed(JobId indexed jobId, uint8 slot, address indexed operator, bytes32 resultHash);
    event ResultProposed(JobId indexed jobId, bytes32 resultHash, uint32 challengeEnd);
    event JobDisputed(JobId indexed jobId, DisputeReason reason, uint32 resolveBy);
    /// @notice The operator of `slot` declined job `jobId` before taking it up (no penalty; the slot is replaced
    /// when the commit window closes, or at once when no other slot has anything left to post).
    event SlotDeclined(JobId indexed jobId, uint8 slot, address indexed operator);
    event SlotMissed(JobId indexed jobId, uint8 slot, address indexed operator, Status phase, uint256 penalty);
    event JobFinalized(
        JobId indexed jobId,
        bytes32 resultHash,
        uint8 paidOperators,
        uint256 fee,
        uint256 refunded,
        uint256 royalty,
        uint256 treasury,
        uint256 stakers,
        uint256 perOperator
    );
    event JobRefunded(JobId indexed jobId, address indexed payer, uint256 amount, RefundReason reason);
    /// @notice Governance set new parameters: they apply to jobs submitted from now on, under `version`.
    event ParamsSet(uint16 indexed version, Params params);

    error JobEscrowUnknownJob(JobId jobId);
    /// @notice The job settled (finalized, or refunded for a missed step) and its storage now holds a later job;
    /// its history is in the events (JobSubmitted ... JobFinalized / JobRefunded, all indexed by job id).
    error JobEscrowJobRecycled(JobId jobId);
    error JobEscrowModelInactive(bytes32 modelId);
    error JobEscrowInvalidRedundancy(uint8 redundancy, uint8 max);
    error JobEscrowPriceBelowMinimum(bytes32 modelId, uint80 price, uint80 minPrice);
    /// @dev A job stores its per-slot price in 72 bits: a model priced above 2^72 - 1 base units cannot be used.
    error JobEscrowPriceAboveMaximum(bytes32 modelId, uint80 price, uint80 maxPrice);
    error JobEscrowFeeAboveMax(uint256 fee, uint256 maxFee);
    error JobEscrowEmptyInput();
    error JobEscrowAmbiguousInput();
    error JobEscrowInputTooLarge(uint256 size, uint256 max);
    error JobEscrowMissingInputHash();
    error JobEscrowDeadlineTooSoon(uint32 deadline, uint256 earliest);
    error JobEscrowDeadlineTooLate(uint32 deadline, uint256 latest);
    error JobEscrowWrongStatus(JobId jobId, Status status);
    error JobEscrowNotAssigned(JobId jobId, uint256 slot, address caller);
    error JobEscrowWindowClosed(JobId jobId, uint32 phaseEnd, uint256 nowTs);
    error JobEscrowWindowOpen(JobId jobId, uint32 phaseEnd, uint256 nowTs);
    error JobEscrowAlreadyCommitted(JobId jobId, uint256 slot);
    /// @notice The job's input is inline and not encrypted, so nothing off-chain can stop an operator serving it.
    error JobEscrowNotDeclinable(JobId jobId);
    error JobEscrowAlreadyRevealed(JobId jobId, uint256 slot);
    error JobEscrowNoCommitPhase(JobId jobId);
    error JobEscrowUseCommitReveal(JobId jobId);
    error JobEscrowCommitmentMismatch(JobId jobId, uint256 slot);
    error JobEscrowZeroHash();
    error JobEscrowParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    // ---------------------------------------------------------------- requesters

    /// @notice Submits a job paid by transferFrom: approve the ledger (`ledger()`) for the fee first, or permit it
    /// in the same multicall (`permitFeeToken`). Returns the job id.
    function submitJob(SubmitParams calldata params) external returns (JobId jobId);

    /// @notice Applies an EIP-2612 permit of the fee token from the caller to the ledger. Batched with
    /// `submitJob` in one `multicall`, it pays a job by permit in a single transaction, with no prior approval. A
    /// permit that fails (e.g. front-run, its nonce already spent) is ignored: the submission then reverts on its
    /// own if the allowance is missing.
    function permitFeeToken(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Submits a job paid from the caller's deposit in the ledger.
    function submitJobFromDeposit(SubmitParams calldata params) external returns (JobId jobId);

    /// @notice Submits a job for `requester` paid by the caller, which must be a payer module that governance
    /// allowlisted in the ledger (the compute-credit pool). Refunds go to the module's deposit.
    function submitJobFor(address requester, SubmitParams calldata params) external returns (JobId jobId);

    // ---------------------------------------------------------------- operators

    /// @notice Declines `slot` of job `jobId` without penalty, before taking it up (no commit, no posted result).
    /// Only for jobs whose input the chain cannot vouch for: an input by reference (the blob may be unavailable) or
    /// an inline private envelope (the content key is wrapped off-chain and may be missing or corrupt, which an
    /// operator cannot prove on-chain: docs/privacy.md). A declined slot cannot commit; it is released without a
    /// slash and replaced like a missed one (`poke`), or the payer is refunded in full when the deadline no longer
    /// allows a round. `JobView.declinedMask` shows the declined slots.
    function decline(JobId jobId, uint8 slot) external;

    /// @notice k > 1: commits to a result for `slot`. `commitment` is
    /// `keccak256(abi.encode(escrow, block.chainid, jobId, operator, resultHash, salt))` (the SDK's
    /// `resultCommitment`): bound to this escrow, chain, job (its input tag included) and operator.
    function commit(JobId jobId, uint8 slot, bytes32 commitment) external;

    /// @notice k > 1: reveals the committed result hash and salt.
    function reveal(JobId jobId, uint8 slot, bytes32 resultHash, bytes32 salt) external;

    /// @notice k = 1: posts the result hash directly (nobody else holds the job, so nobody can copy it).
    function submitResult(JobId jobId, bytes32 resultHash) external;

    // ---------------------------------------------------------------- anyone

    /// @notice Pays out a job whose challenge window has passed.
    function finalize(JobId jobId) external;

    /// @notice Finalizes every job in `jobIds` that is ready, skipping the others. Returns how many settled.
    /// Settles the batch at once: each account's earnings and the accruals are written once (one ledger call),
    /// and the collateral of all its operators is released in one staking call.
    function finalizeMany(JobId[] calldata jobIds) external returns (uint256 settled);

    /// @notice Finalizes the ready jobs of `jobIds` (as finalizeMany), then pays the caller's whole earnings
    /// balance, new and old, to `to` (nothing is transferred when it is zero). Lets an operator settle and collect
    /// its jobs in one transaction.
    function claim(JobId[] calldata jobIds, address to) external returns (uint256 settled, uint256 amount);

    /// @notice Moves a stale job on: slashes and replaces operators that missed a step, refunds the payer when
    /// the deadline no longer allows a retry, finalizes a job past its challenge window, refunds a dispute past its
    /// window.
    function poke(JobId jobId) external;

    // ---------------------------------------------------------------- disputes (DISPUTER role)

    /// @notice Opens a dispute on a proposed result within its challenge window.
    function openDispute(JobId jobId) external;

    /// @notice Settles a disputed job: pays the operators whose revealed result equals `correctResult`, or
    /// refunds the payer when it is zero (no result was right). Slashing is the caller's job.
    function resolveDispute(JobId jobId, bytes32 correctResult) external;

    // ---------------------------------------------------------------- governance

    /// @notice New parameters for jobs submitted from now on (a new terms version); open jobs keep theirs.
    function setParams(Params calldata params) external;

    function setPaused(uint8 action, bool paused) external;

    // ---------------------------------------------------------------- immutables

    function ledger() external view returns (IFeeLedger);
}

/// @title IJobEscrowViews
/// @notice JobEscrow's read-only functions, served at the escrow's address by its read-only extension
/// (JobEscrowViews, delegatecalled from the escrow's fallback on its own storage: EigenLayer's split-contract
/// pattern). One mechanism for every view keeps the core's code for the lifecycle.
interface IJobEscrowViews is ISlashWindowSource {
    /// @notice A job's state. Open jobs and disputed ones always read; a job settled without a dispute reads
    /// until a later submission reuses its record, then reverts with JobEscrowJobRecycled (read its events).
    /// `slotHashes` shows the hashes of slots that posted; `phaseEnd` is 0 once settled.
    function getJob(JobId jobId) external view returns (IJobEscrow.JobView memory);

    /// @notice The parameters that new jobs get (the current terms version).
    function params() external view returns (IJobEscrow.Params memory);

    /// @notice The parameters of terms version `version` (the ones jobs submitted under it settle with).
    function paramsAt(uint16 version) external view returns (IJobEscrow.Params memory);

    /// @notice The current terms version (1 after deployment; each `setParams` adds one).
    function termsVersion() external view returns (uint16);

    /// @notice Job records ever allocated: the most jobs open at once (settled jobs' records are reused).
    function recordCount() external view returns (uint256);

    /// @notice The id the next submission of `inputHash` (sha256 of the inline input, or the referenced input's
    /// hash) to `modelId` will get, when no other submission comes first.
    function nextJobId(bytes32 modelId, bytes32 inputHash) external view returns (JobId);

    /// @notice The id of the job open in record `index`, or last settled there (reads through a reused record).
    function jobIdAt(uint256 index) external view returns (JobId);

    function isPaused(uint8 action) external view returns (bool);

    function feeToken() external view returns (IERC20);

    function registry() external view returns (IModelRegistry);

    function staking() external view returns (INodeStaking);

    /// @notice Checks governance parameters against their bounds (reverts with JobEscrowParameterOutOfBounds)
    /// and returns their longest slashable window. `setParams` runs it; anyone may, to check before proposing.
    function checkParams(IJobEscrow.Params memory p, uint256 minStake, uint256 unbondingPeriod)
        external
        pure
        returns (uint256 longestSlashableWindow);

    /// @dev `longestSlashableWindow` (ISlashWindowSource): a fault can be slashed until the latest deadline, then the
    /// challenge window, then a dispute; the longest over every terms version ever set (open jobs keep theirs).
}

/// @notice JobEscrow as callers see it at its address: the core, its forwarded views, and what its OpenZeppelin
/// bases add (multicall, AccessManaged, the pause flags, the reentrancy guard).
interface IVeilEscrow is IJobEscrow, IJobEscrowViews, IAccessManaged {
    event ActionPauseSet(uint8 indexed action, bool paused);

    error ActionPaused(uint8 action);
    error ReentrancyGuardReentrantCall();

    /// @notice OpenZeppelin's Multicall: runs each call as a delegatecall to the escrow itself (msg.sender kept).
    function multicall(bytes[] calldata data) external returns (bytes[] memory results);
}
