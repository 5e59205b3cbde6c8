// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title INodeStaking
/// @notice Operators register a node (endpoint URL, encryption public key), stake the staking token, opt in to
/// models, and are drawn stake-weighted for jobs. Stake is locked as collateral while an operator holds a job.
/// Unbonding takes longer than the longest window in which a fault can still be slashed, and stake being
/// unbonded stays slashable. Only the protocol's own contracts (the escrow and the dispute manager, on an allowlist
/// that governance keeps: setProtocolContract) can lock, release or slash.
/// Stakers earn a share of every job fee through a reward-per-stake accumulator (O(1) per action).
interface INodeStaking {
    struct OperatorView {
        bool registered;
        uint96 stake; // active stake: eligible for selection, earns staker rewards
        uint96 locked; // part of `stake` locked as job collateral
        uint96 unbonding; // left selection, still slashable until `unbondEnd`
        uint40 unbondEnd;
        bytes32 encryptionKey; // X25519 public key for private inference
        string endpoint; // the worker's HTTP endpoint (results)
        bytes32[] models; // models the operator serves
        bool eligible; // stake >= minStake
    }

    event OperatorRegistered(address indexed operator, string endpoint, bytes32 encryptionKey);
    event OperatorUpdated(address indexed operator, string endpoint, bytes32 encryptionKey);
    event Staked(address indexed operator, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed operator, uint256 amount, uint256 unbonding, uint40 unbondEnd);
    event UnbondWithdrawn(address indexed operator, uint256 amount);
    event ModelJoined(address indexed operator, bytes32 indexed modelId);
    event ModelLeft(address indexed operator, bytes32 indexed modelId);
    event EligibilityChanged(address indexed operator, bool eligible);
    event CollateralLocked(address indexed operator, uint256 amount, uint256 locked);
    event CollateralReleased(address indexed operator, uint256 amount, uint256 locked);
    event Slashed(address indexed operator, uint256 amount, uint256 fromUnbonding, address indexed recipient);
    event RewardsNotified(uint256 amount, uint256 rewardPerStake);
    event RewardsClaimed(address indexed operator, address indexed to, uint256 amount);
    event MinStakeSet(uint256 minStake);
    event UnbondingPeriodSet(uint256 period);
    event SlashWindowSourceSet(address source);
    event ProtocolContractSet(address indexed account, bool allowed);

    error NodeStakingNotRegistered(address operator);
    error NodeStakingAlreadyRegistered(address operator);
    error NodeStakingZeroAmount();
    error NodeStakingEmptyEndpoint();
    error NodeStakingEndpointTooLong(uint256 length, uint256 max);
    error NodeStakingInsufficientFreeStake(address operator, uint256 requested, uint256 free);
    error NodeStakingStakeOverflow(uint256 stake);
    /// @notice The staking token delivered less than the amount staked (a fee-on-transfer token is not supported).
    error NodeStakingTransferMismatch(uint256 expected, uint256 received);
    error NodeStakingUnbondNotReady(address operator, uint40 unbondEnd, uint256 nowTs);
    error NodeStakingNothingToWithdraw(address operator);
    error NodeStakingAlreadyServing(address operator, bytes32 modelId);
    error NodeStakingNotServing(address operator, bytes32 modelId);
    error NodeStakingTooManyModels(address operator, uint256 max);
    error NodeStakingNotEnoughOperators(uint256 modelIndex, uint256 requested, uint256 available);
    error NodeStakingLengthMismatch(uint256 operators, uint256 collaterals);
    error NodeStakingNotProtocol(address caller);
    error NodeStakingZeroAddress();
    error NodeStakingParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    // ---------------------------------------------------------------- operators

    function register(string calldata endpoint, bytes32 encryptionKey) external;

    function updateNode(string calldata endpoint, bytes32 encryptionKey) external;

    /// @notice Adds `amount` of the staking token to the caller's stake (pulls it with transferFrom).
    function stake(uint256 amount) external;

    /// @notice Same as stake, with an EIP-2612 permit.
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Moves `amount` of free (unlocked) stake to unbonding; the unbonding timer restarts.
    function requestUnbond(uint256 amount) external;

    /// @notice Withdraws all unbonded stake once the unbonding period has passed. Never paused.
    function withdrawUnbonded() external returns (uint256 amount);

    function joinModel(bytes32 modelId) external;

    function leaveModel(bytes32 modelId) external;

    /// @notice Claims the caller's staker rewards (fee token). Never paused.
    function claimRewards(address to) external returns (uint256 amount);

    // ---------------------------------------------------------------- governance

    /// @notice Adds (`allowed`) or removes `account` from the protocol contracts allowed to call assign, release,
    /// releaseMany, slash and notifyRewards. Only the protocol's own contracts (JobEscrow, DisputeManager)
    /// belong there: any account on it can lock, release and slash every operator's stake. Restricted
    /// (AccessManager, GOVERNOR role). The check is one storage read, where `restricted` costs an external call
    /// into the AccessManager (~11k gas) on every job submission and settlement.
    function setProtocolContract(address account, bool allowed) external;

    /// @notice Whether `account` may call the protocol functions below.
    function isProtocolContract(address account) external view returns (bool);

    // ---------------------------------------------------------------- protocol (setProtocolContract allowlist)

    /// @notice Draws `k` distinct eligible operators of model `modelIndex`, stake-weighted, skipping
    /// `exclude` and operators whose free stake is below `collateral`, and locks `collateral` from each.
    function assign(uint256 modelIndex, uint256 k, uint256 seed, uint256 collateral, address[] calldata exclude)
        external
        returns (address[] memory operators);

    function release(address operator, uint256 collateral) external;

    /// @notice `release` for many operators at once (one call per settled batch of jobs).
    function releaseMany(address[] calldata operators, uint256[] calldata collaterals) external;

    /// @notice Releases `collateral` and slashes `amount` (from active stake first, then unbonding), sending
    /// the slashed tokens to `recipient` (the dead address burns). Returns the amount actually slashed.
    function slash(address operator, uint256 collateral, uint256 amount, address recipient)
        external
        returns (uint256 slashed);

    /// @notice Accounts `amount` of fee token, already transferred in, as rewards for all stakers.
    function notifyRewards(uint256 amount) external;

    // ---------------------------------------------------------------- views

    function operator(address account) external view returns (OperatorView memory);

    function freeStake(address account) external view returns (uint256);

    function isServing(address account, bytes32 modelId) external view returns (bool);

    function eligibleCount(uint256 modelIndex) external view returns (uint256);

    function modelWeight(uint256 modelIndex) external view returns (uint256);

    function pendingRewards(address account) external view returns (uint256);

    function totalStaked() external view returns (uint256);

    function minStake() external view returns (uint256);

    function unbondingPeriod() external view returns (uint256);
}
