// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISlashWindowSource} from "./ISlashWindowSource.sol";

/// @title IJobEscrow
/// @notice Job escrow and lifecycle. A requester submits a job and its fee (price x redundancy) is escrowed;
/// k distinct operators are drawn stake-weighted at submission. At k = 1 the operator posts its result hash
/// directly; at k > 1 operators commit to keccak256(escrow, chainid, jobId, operator, resultHash, salt) and
/// reveal once every slot has committed. Agreeing results become final after a challenge window; a
/// disagreement or a challenge puts the job in dispute (resolved by the DISPUTER role, or refunded once the
/// dispute window passes). Every state has a deadline and anyone can move a stale job on with `poke`.
/// Every escrowed coin is either paid out at finalization or refundable to the payer: there is no other exit.
/// The implementation also has OpenZeppelin's `multicall(bytes[])`: any caller can batch its own calls (an
/// operator posting results, commits or reveals for many jobs, a requester depositing and submitting) into one
/// transaction, each call running as a delegatecall to the escrow itself with msg.sender preserved. Each call
/// takes and releases the reentrancy guard in turn, so a call re-entering during a token transfer still
/// reverts; no function is payable, so no msg.value can be counted twice.
/// Job ids are `generation << 32 | record index` (1, 2, 3... on a fresh escrow): a job that settles without a
/// dispute frees its storage record for a later submission, which gets the same index and the next generation, so
/// ids are never reused and storage holds open jobs rather than all history (the events keep the history).
interface IJobEscrow is ISlashWindowSource {
    enum Status {
        None,
        Assigned, // k = 1: waiting for the result; k > 1: waiting for commitments
        Revealing, // k > 1: every slot committed, waiting for reveals
        Proposed, // results agree; challenge window open until phaseEnd
        Disputed, // results disagree, or a challenge was opened; resolution due by phaseEnd
        Finalized, // paid out
        Refunded // requester refunded in full
    }

    enum PayMode {
        Deposit, // paid by transfer, permit or prepaid deposit; refunds go to the requester's deposit
        Allowance // paid from the compute-credit allowance pool; refunds go back to the pool
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
        PayMode payMode;
        uint8 redundancy;
        uint80 price; // per slot
        uint32 deadline;
        uint32 phaseEnd;
        address[] operators;
        bytes32[] slotHashes; // commitment, then revealed result hash, per slot
        uint8 commitMask;
        uint8 revealMask;
        uint8 missedMask;
        bytes32 result; // agreed (or dispute-resolved) result hash, 0 while none
    }

    event JobSubmitted(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 indexed modelId,
        uint8 redundancy,
        uint256 fee,
        uint32 deadline,
        PayMode payMode,
        bytes32 inputHash,
        bytes input,
        string inputURI
    );
    event OperatorsAssigned(uint256 indexed jobId, uint8[] slots, address[] operators, uint32 phaseEnd);
    event ResultCommitted(uint256 indexed jobId, uint8 slot, address indexed operator);
    event RevealPhaseStarted(uint256 indexed jobId, uint32 phaseEnd);
    event ResultRevealed(uint256 indexed jobId, uint8 slot, address indexed operator, bytes32 resultHash);
    event ResultProposed(uint256 indexed jobId, bytes32 resultHash, uint32 challengeEnd);
    event JobDisputed(uint256 indexed jobId, DisputeReason reason, uint32 resolveBy);
    /// @notice The operator of `slot` declined job `jobId` before taking it up (no penalty; the slot is replaced
    /// when the commit window closes, or at once when no other slot has anything left to post).
    event SlotDeclined(uint256 indexed jobId, uint8 slot, address indexed operator);
    event SlotMissed(uint256 indexed jobId, uint8 slot, address indexed operator, Status phase, uint256 penalty);
    event JobFinalized(
        uint256 indexed jobId,
        bytes32 resultHash,
        uint8 paidOperators,
        uint256 fee,
        uint256 refunded,
        uint256 royalty,
        uint256 treasury,
        uint256 stakers,
        uint256 perOperator
    );
    event JobRefunded(uint256 indexed jobId, address indexed payer, uint256 amount, RefundReason reason);
    event Deposited(address indexed account, address indexed from, uint256 amount);
    event DepositWithdrawn(address indexed account, address indexed to, uint256 amount);
    event EarningsWithdrawn(address indexed account, address indexed to, uint256 amount);
    event TreasuryWithdrawn(address indexed treasury, uint256 amount);
    event StakerRewardsDistributed(uint256 amount);
    event ParamsSet(Params params);
    event CreditsPoolSet(address pool);

    error JobEscrowUnknownJob(uint256 jobId);
    /// @notice The job settled (finalized, or refunded for a missed step) and its storage now holds a later job;
    /// its history is in the events (JobSubmitted ... JobFinalized / JobRefunded, all indexed by job id).
    error JobEscrowJobRecycled(uint256 jobId);
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
    error JobEscrowWrongStatus(uint256 jobId, Status status);
    error JobEscrowNotAssigned(uint256 jobId, uint256 slot, address caller);
    error JobEscrowWindowClosed(uint256 jobId, uint32 phaseEnd, uint256 nowTs);
    error JobEscrowWindowOpen(uint256 jobId, uint32 phaseEnd, uint256 nowTs);
    error JobEscrowAlreadyCommitted(uint256 jobId, uint256 slot);
    /// @notice The job's input is inline and not encrypted, so nothing off-chain can stop an operator serving it.
    error JobEscrowNotDeclinable(uint256 jobId);
    error JobEscrowAlreadyRevealed(uint256 jobId, uint256 slot);
    error JobEscrowNoCommitPhase(uint256 jobId);
    error JobEscrowUseCommitReveal(uint256 jobId);
    error JobEscrowCommitmentMismatch(uint256 jobId, uint256 slot);
    error JobEscrowZeroHash();
    error JobEscrowInsufficientDeposit(address account, uint256 balance, uint256 needed);
    error JobEscrowTransferMismatch(uint256 expected, uint256 received);
    error JobEscrowZeroAmount();
    error JobEscrowNothingToWithdraw(address account);
    error JobEscrowNoCreditsPool();
    error JobEscrowParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    // ---------------------------------------------------------------- requesters

    /// @notice Submits a job paid by transferFrom (approve the fee token first). Returns the job id.
    function submitJob(SubmitParams calldata params) external returns (uint256 jobId);

    /// @notice Applies an EIP-2612 permit of the fee token from the caller to this escrow. Batched with
    /// `submitJob` (or `deposit`) in one `multicall`, it pays a job by permit in a single transaction, with no
    /// prior approval. A permit that fails (e.g. front-run, its nonce already spent) is ignored: the submission
    /// then reverts on its own if the allowance is missing.
    function permitFeeToken(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Submits a job paid from the caller's prepaid deposit.
    function submitJobFromDeposit(SubmitParams calldata params) external returns (uint256 jobId);

    /// @notice Submits a job for `requester` paid from the compute-credit allowance pool (the caller, which
    /// must hold the CREDITS role, transfers the fee).
    function submitJobFor(address requester, SubmitParams calldata params) external returns (uint256 jobId);

    function deposit(uint256 amount) external;

    function depositFor(address account, uint256 amount) external;

    /// @notice Withdraws from the caller's deposit (which also receives refunds). Never paused.
    function withdrawDeposit(uint256 amount, address to) external;

    // ---------------------------------------------------------------- operators

    /// @notice Declines `slot` of job `jobId` without penalty, before taking it up (no commit, no posted result).
    /// Only for jobs whose input the chain cannot vouch for: an input by reference (the blob may be unavailable) or
    /// an inline private envelope (the content key is wrapped off-chain and may be missing or corrupt, which an
    /// operator cannot prove on-chain: docs/privacy.md). A declined slot cannot commit; it is released without a
    /// slash and replaced like a missed one (`poke`), or the requester is refunded in full when the deadline no
    /// longer allows a round. While the job is Assigned, `JobView.revealMask` holds the declined slots.
    function decline(uint256 jobId, uint8 slot) external;

    /// @notice k > 1: commits to a result for `slot`. `commitment` is
    /// `keccak256(abi.encode(escrow, block.chainid, jobId, operator, resultHash, salt))` (the SDK's
    /// `resultCommitment`): bound to this escrow, chain, job and operator, so nobody can copy another's commitment.
    function commit(uint256 jobId, uint8 slot, bytes32 commitment) external;

    /// @notice k > 1: reveals the committed result hash and salt.
    function reveal(uint256 jobId, uint8 slot, bytes32 resultHash, bytes32 salt) external;

    /// @notice k = 1: posts the result hash directly (nobody else holds the job, so nobody can copy it).
    function submitResult(uint256 jobId, bytes32 resultHash) external;

    /// @notice Withdraws the caller's earnings (operators, model owners). Never paused.
    function withdrawEarnings(address to) external returns (uint256 amount);

    // ---------------------------------------------------------------- anyone

    /// @notice Pays out a job whose challenge window has passed.
    function finalize(uint256 jobId) external;

    /// @notice Finalizes every job in `jobIds` that is ready, skipping the others. Returns how many settled.
    /// Settles the batch at once: each account's earnings, the treasury and staker accruals are written once,
    /// and the collateral of all its operators is released in one staking call.
    function finalizeMany(uint256[] calldata jobIds) external returns (uint256 settled);

    /// @notice Finalizes the ready jobs of `jobIds` (as finalizeMany), then withdraws the caller's whole
    /// earnings balance, new and old, to `to` (nothing is transferred when it is zero). Lets an operator settle
    /// and collect its jobs in one transaction.
    function claim(uint256[] calldata jobIds, address to) external returns (uint256 settled, uint256 amount);

    /// @notice Moves a stale job on: slashes and replaces operators that missed a step, refunds the requester
    /// when the deadline no longer allows a retry, finalizes a job past its challenge window, refunds a dispute
    /// past its window.
    function poke(uint256 jobId) external;

    function withdrawTreasury() external returns (uint256 amount);

    function distributeStakerRewards() external returns (uint256 amount);

    // ---------------------------------------------------------------- disputes (DISPUTER role)

    /// @notice Opens a dispute on a proposed result within its challenge window.
    function openDispute(uint256 jobId) external;

    /// @notice Settles a disputed job: pays the operators whose revealed result equals `correctResult`, or
    /// refunds the requester when it is zero (no result was right). Slashing is the caller's job.
    function resolveDispute(uint256 jobId, bytes32 correctResult) external;

    // ---------------------------------------------------------------- views

    /// @notice A job's state. Open jobs and disputed ones always read; a job settled without a dispute reads
    /// until a later submission reuses its record, then reverts with JobEscrowJobRecycled (read its events).
    /// `slotHashes` shows the hashes of slots that posted; `phaseEnd` is 0 once settled.
    function getJob(uint256 jobId) external view returns (JobView memory);

    function params() external view returns (Params memory);

    /// @notice Job records ever allocated: the most jobs open at once (settled jobs' records are reused).
    function recordCount() external view returns (uint256);

    /// @notice The id the next submission will get (ids are `generation << 32 | record index`, never reused).
    function nextJobId() external view returns (uint256);

    function depositOf(address account) external view returns (uint256);

    function earningsOf(address account) external view returns (uint256);

    function treasuryAccrued() external view returns (uint256);

    function stakerRewardsAccrued() external view returns (uint256);

}
