// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IFeeLedger
/// @notice Veil's money: every fee-token balance of the job market lives here, apart from the job lifecycle
/// (JobEscrow), as Morpho Blue keeps a minimal core and Uniswap v4 one vault for every pool. The ledger holds:
/// - deposits: prepaid balances that pay jobs, and where refunds go (withdrawable at any time, never paused);
/// - earnings: what operators and model owners were paid (withdrawable at any time, never paused);
/// - the treasury's and the stakers' accruals.
/// A job is paid by one of:
/// - its requester: by transferFrom (approve this ledger, or permit it through `JobEscrow.permitFeeToken`) or from
///   the requester's deposit;
/// - a payer module: a contract that governance allowlisted (`setPayerModule`), which pays for jobs it submits on
///   behalf of others (the compute-credit pool today; sessions next). Refunds of its jobs go to its own deposit.
/// Only the escrow moves funds between accounts here, and only as a job's terms say: it collects a fee at
/// submission and settles jobs (earnings, accruals, refunds). Balances conserve: the ledger's fee-token balance is
/// always at least the sum of deposits, earnings and both accruals plus the fees of open jobs.
interface IFeeLedger {
    /// @notice Credits of settled jobs, written once per account per batch.
    struct Settlement {
        address[] payees; // earnings (operators, model owners)
        uint256[] earnings;
        address[] payers; // refunds, to the payer's deposit
        uint256[] refunds;
        uint256 treasury;
        uint256 stakers;
    }

    event Deposited(address indexed account, address indexed from, uint256 amount);
    event DepositWithdrawn(address indexed account, address indexed to, uint256 amount);
    event EarningsWithdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice The treasury's accrual was paid out to `to` (the treasury itself, or where it chose to pull it).
    event TreasuryWithdrawn(address indexed treasury, address indexed to, uint256 amount);
    event StakerRewardsDistributed(uint256 amount);
    /// @notice `module` may (allowed) or may no longer pay for jobs; its id stays the same across changes.
    event PayerModuleSet(address indexed module, uint8 id, bool allowed);

    error FeeLedgerOnlyEscrow(address caller);
    error FeeLedgerInsufficientDeposit(address account, uint256 balance, uint256 needed);
    error FeeLedgerTransferMismatch(uint256 expected, uint256 received);
    error FeeLedgerZeroAmount();
    error FeeLedgerZeroAddress();
    error FeeLedgerNothingToWithdraw(address account);
    error FeeLedgerNotTreasury(address caller, address treasury);
    /// @notice `module` is not an allowlisted payer module (or was removed).
    error FeeLedgerNotPayerModule(address module);
    error FeeLedgerUnknownPayerModule(uint8 id);
    error FeeLedgerTooManyModules(uint256 max);

    // ---------------------------------------------------------------- payers

    function deposit(uint256 amount) external;

    function depositFor(address account, uint256 amount) external;

    /// @notice Deposits `amount` for `account` paid by an EIP-2612 permit of the fee token from the caller to this
    /// ledger, in one transaction with no prior approval. A permit that fails (front-run: its nonce already spent)
    /// is ignored; the deposit then reverts on its own if the allowance is missing.
    function depositWithPermit(address account, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Withdraws from the caller's deposit (which also receives refunds). Never paused.
    function withdrawDeposit(uint256 amount, address to) external;

    // ---------------------------------------------------------------- payees

    /// @notice Withdraws the caller's earnings (operators, model owners). Never paused.
    function withdrawEarnings(address to) external returns (uint256 amount);

    /// @notice Pays the treasury's accrual to the treasury that the escrow's current parameters name (anyone may
    /// call it: a push to the treasury).
    function withdrawTreasury() external returns (uint256 amount);

    /// @notice The treasury's pull exit: the treasury that the escrow's current parameters name withdraws its
    /// accrual to `to`, so a treasury address that cannot receive the fee token (a blocklisted one) is not stuck.
    function claimTreasury(address to) external returns (uint256 amount);

    /// @notice Pays the stakers' accrual into NodeStaking's reward pool.
    function distributeStakerRewards() external returns (uint256 amount);

    // ---------------------------------------------------------------- governance

    /// @notice Allows or disallows a payer module. A module gets an id the first time it is allowed (1, 2, ...);
    /// jobs record that id, so refunds of jobs a module paid still reach it after it is disallowed.
    function setPayerModule(address module, bool allowed) external;

    // ---------------------------------------------------------------- the escrow

    /// @notice Takes `amount` from `payer`: from its deposit, or by transferFrom (the payer approved this ledger).
    function collect(address payer, uint256 amount, bool fromDeposit) external;

    /// @notice Takes `amount` from an allowlisted payer module by transferFrom; returns the module's id.
    function collectFromModule(address module, uint256 amount) external returns (uint8 id);

    /// @notice Writes the credits of settled jobs. Earnings of `claimer` (non-zero) are not stored but paid to
    /// `to`, with the claimer's stored earnings, in the same call. Returns what was paid.
    function settle(Settlement calldata s, address claimer, address to) external returns (uint256 paid);

    // ---------------------------------------------------------------- views

    function escrow() external view returns (address);

    function depositOf(address account) external view returns (uint256);

    function earningsOf(address account) external view returns (uint256);

    function treasuryAccrued() external view returns (uint256);

    function stakerRewardsAccrued() external view returns (uint256);

    /// @notice The module with id `id` (address(0) if none), and whether it may pay now.
    function payerModule(uint8 id) external view returns (address module, bool allowed);

    /// @notice The id of `module` (0 if it was never allowed).
    function payerModuleId(address module) external view returns (uint8);
}
