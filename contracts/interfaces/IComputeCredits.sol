// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobId} from "../types/JobId.sol";
import {IJobEscrow} from "./IJobEscrow.sol";

/// @title IComputeCredits
/// @notice Veil Compute Credits (VCC): an ERC-20 minted by locking the staking token (VEIL), each credit giving
/// a fixed value of compute per UTC day, paid from an allowance pool in the fee token.
///
/// Minting: `n` credits at outstanding supply `s` cost the exact integral of the price curve
/// `base * (1 + s / scale)` (VEIL base units per 1e18 credits) over [s, s + n], rounded up. The VEIL stays
/// locked in this contract: it backs no operator stake (NodeStaking holds its own stake).
///
/// Burning: `burn(n)` destroys `n` credits at once and starts an unlock request, withdrawable after
/// `unlockDelay`, for min(locked * n / supply, cost(supply - n, n)) VEIL, both rounded down: the pro-rata share
/// of the VEIL locked, capped by what minting the same credits back would cost on the current curve (so a
/// mint-then-burn round trip never gains). Burning the whole supply returns everything locked. A burn never
/// returns more than is locked.
///
/// Daily allowance: a holder may spend `startBalance * allowancePerCredit / 1e18` fee-token units per UTC day
/// (00:00 to 00:00), where `startBalance` is its credit balance at 00:00 UTC (see AllowanceMath). Credits
/// received during a day give nothing until the next day; credits sent or burned during a day keep the
/// sender's allowance for that day. Unused allowance does not roll over.
///
/// Agents: a holder grants an agent a daily cap on the holder's allowance; the agent then submits jobs paid by
/// that allowance. The requester of record in the escrow is the caller (the holder itself or its agent): it is
/// the account that sent the input and gets the result. The holder whose allowance paid is in `AllowanceSpent`.
///
/// Paying operators: this contract holds the allowance pool (its fee-token balance) and pays each job's full
/// fee to the escrow through `JobEscrow.submitJobFor`, so operators, model owner, treasury and stakers are paid
/// exactly as for a deposit-paid job. Refunds of allowance-paid jobs land in this contract's escrow deposit;
/// `reclaimRefunds` pulls them back. The pool is funded by `fundPool` (anyone) or by plain transfers, e.g.
/// by pointing the escrow's treasury at this contract so that `JobEscrow.withdrawTreasury` feeds it.
///
/// Spend order: `submitJob` pays from allowance only, in full; when the allowance left (or the agent's cap, or
/// the pool) cannot cover the fee it reverts with a typed error, and the client pays from its escrow deposit
/// instead (`JobEscrow.submitJobFromDeposit`). A fee is never split between allowance and deposit.
interface IComputeCredits {
    struct Unlock {
        uint128 amount; // staking-token base units
        uint64 unlockTime; // withdrawable from this time on
    }

    struct CurveParams {
        uint128 base; // staking-token base units per 1e18 credits at zero supply
        uint128 scale; // supply (1e18 units) at which the price doubles
    }

    event Minted(address indexed account, uint256 credits, uint256 cost, uint256 supplyAfter);
    event Burned(address indexed account, uint256 credits, uint256 stakeReturned, uint64 unlockTime);
    event Unlocked(address indexed account, address indexed to, uint256 amount);
    event AgentGranted(address indexed holder, address indexed agent, uint256 dailyCap);
    event AgentRevoked(address indexed holder, address indexed agent);
    event AllowanceSpent(
        address indexed holder, address indexed spender, uint256 indexed jobId, uint256 fee, uint256 spentToday
    );
    event PoolFunded(address indexed from, uint256 amount);
    event RefundsReclaimed(uint256 amount);
    event CurveSet(uint256 base, uint256 scale);
    event AllowancePerCreditSet(uint256 allowancePerCredit);
    event UnlockDelaySet(uint256 unlockDelay);

    error ComputeCreditsZeroAmount();
    error ComputeCreditsSupplyCap(uint256 supplyAfter, uint256 cap);
    error ComputeCreditsCostAboveMax(uint256 cost, uint256 maxCost);
    error ComputeCreditsReturnBelowMin(uint256 stakeReturned, uint256 minReturn);
    error ComputeCreditsTooManyUnlocks(address account, uint256 max);
    error ComputeCreditsNothingUnlocked(address account, uint256 nextUnlockTime, uint256 nowTs);
    error ComputeCreditsNotAgent(address holder, address caller);
    error ComputeCreditsAllowanceExceeded(address holder, uint256 fee, uint256 left);
    error ComputeCreditsAgentCapExceeded(address holder, address agent, uint256 fee, uint256 left);
    error ComputeCreditsPoolInsufficient(uint256 fee, uint256 pool);
    error ComputeCreditsModelInactive(bytes32 modelId);
    error ComputeCreditsTransferMismatch(uint256 expected, uint256 received);
    error ComputeCreditsNothingToReclaim();
    error ComputeCreditsSameToken(address token);
    error ComputeCreditsParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    // ---------------------------------------------------------------- credits

    /// @notice Mints `credits` (1e18 units) to the caller for at most `maxCost` staking tokens (approve first).
    /// Returns the cost taken.
    function mint(uint256 credits, uint256 maxCost) external returns (uint256 cost);

    /// @notice Burns `credits` of the caller's and starts an unlock request for at least `minReturn` staking
    /// tokens (its pro-rata share of the locked stake). Returns the amount and when it can be withdrawn.
    function burn(uint256 credits, uint256 minReturn) external returns (uint256 stakeReturned, uint64 unlockTime);

    /// @notice Sends every matured unlock of the caller to `to`; reverts when none has matured. Never paused.
    function withdrawUnlocked(address to) external returns (uint256 amount);

    // ---------------------------------------------------------------- allowance

    /// @notice Lets `agent` spend up to `dailyCap` fee-token units a day of the caller's allowance (replaces
    /// any previous cap; what the agent spent today still counts).
    function grantAgent(address agent, uint256 dailyCap) external;

    /// @notice Ends `agent`'s right to spend the caller's allowance, at once.
    function revokeAgent(address agent) external;

    /// @notice Submits a job to the escrow paid in full by `holder`'s allowance for today. The caller is the
    /// holder or one of its agents, and is the job's requester of record.
    function submitJob(address holder, IJobEscrow.SubmitParams calldata params) external returns (JobId jobId);

    // ---------------------------------------------------------------- pool

    /// @notice Adds `amount` fee tokens to the allowance pool (approve first).
    function fundPool(uint256 amount) external;

    /// @notice Pulls the refunds of allowance-paid jobs (this contract's escrow deposit) back into the pool.
    function reclaimRefunds() external returns (uint256 amount);

    // ---------------------------------------------------------------- views

    /// @notice Fee-token units `account` can still spend from its allowance today.
    function allowanceLeft(address account) external view returns (uint256);

    /// @notice Fee-token units `agent` can spend for `holder` right now: the lesser of its cap left and the
    /// holder's allowance left.
    function agentAllowanceLeft(address holder, address agent) external view returns (uint256);

    /// @notice The agent's daily cap (0 when not an agent) and what it spent today.
    function agentOf(address holder, address agent) external view returns (uint256 dailyCap, uint256 spentToday);

    /// @notice The credit balance `account` held at the start of today (what today's allowance is based on).
    function startOfDayBalance(address account) external view returns (uint256);

    /// @notice The next 00:00 UTC, when allowances reset.
    function nextReset() external view returns (uint256);

    /// @notice Staking tokens it costs to mint `credits` now.
    function mintCost(uint256 credits) external view returns (uint256);

    /// @notice Staking tokens that burning `credits` would return now.
    function burnReturn(uint256 credits) external view returns (uint256);

    /// @notice Pending unlock requests of `account`, matured or not.
    function unlocksOf(address account) external view returns (Unlock[] memory);

    /// @notice Fee tokens in the allowance pool (not counting refunds not yet reclaimed).
    function poolBalance() external view returns (uint256);

    /// @notice Staking tokens locked behind outstanding credits.
    function totalLocked() external view returns (uint256);

    /// @notice Staking tokens burned out of credits and waiting for (or past) their cooldown.
    function totalUnlocking() external view returns (uint256);

    function curve() external view returns (CurveParams memory);

    function allowancePerCredit() external view returns (uint256);

    function unlockDelay() external view returns (uint256);
}
