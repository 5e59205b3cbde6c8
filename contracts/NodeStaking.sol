// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {ISlashWindowSource} from "./interfaces/ISlashWindowSource.sol";
import {SortitionTree} from "./libraries/SortitionTree.sol";
import {PausableActions} from "./libraries/PausableActions.sol";
import {Randomness} from "./libraries/Randomness.sol";

/// @title NodeStaking
/// @notice Operator registration, staking, unbonding, model opt-in, stake-weighted sortition, job collateral,
/// slashing and staker rewards. See INodeStaking for the documentation of each function.
contract NodeStaking is INodeStaking, AccessManaged, PausableActions, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SortitionTree for SortitionTree.Tree;

    uint8 public constant ACTION_REGISTER = 0;
    uint8 public constant ACTION_STAKE = 1;
    uint8 public constant ACTION_JOIN_MODEL = 2;

    uint256 public constant MAX_MODELS_PER_OPERATOR = 16;
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    /// @dev Draw attempts per requested operator before giving up (skips duplicates and busy operators).
    /// @notice Draws an assignment may spend on members without the free stake for the collateral, beyond its
    /// 3k - 1 (each such member is set aside, so this bounds the loop, not the chance of success among eligible ones).
    uint256 public constant MAX_INELIGIBLE_DRAWS = 16;
    uint256 private constant REWARD_PRECISION = 1e36;
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    struct Operator {
        // slot 0
        uint96 stake;
        uint96 locked;
        uint40 unbondEnd;
        bool registered;
        bool eligible;
        // slot 1
        uint96 unbonding;
        bytes32 encryptionKey;
        string endpoint;
        uint256 rewardPerStakePaid;
        uint256 rewards;
    }

    IERC20 public immutable stakingToken;
    IERC20 public immutable feeToken;
    IModelRegistry public immutable registry;

    ISlashWindowSource private _slashWindowSource;
    uint256 private _minStake;
    uint256 private _unbondingPeriod;
    uint256 private _totalStaked;
    uint256 private _rewardPerStake;
    uint256 private _rewardRemainder; // scaled by REWARD_PRECISION: not yet distributable dust
    uint256 private _undistributedRewards; // notified while nobody staked

    mapping(address account => Operator) private _operators;
    mapping(address account => uint24[]) private _servedModels;
    mapping(uint256 modelIndex => SortitionTree.Tree) private _trees;
    /// @dev The protocol's own contracts (escrow, dispute manager): the only callers of assign, release,
    /// releaseMany, slash and notifyRewards. One SLOAD on the hot path instead of a call into the AccessManager.
    mapping(address account => bool) private _protocolContracts;

    constructor(
        address authority,
        IERC20 stakingToken_,
        IERC20 feeToken_,
        IModelRegistry registry_,
        uint256 minStake_,
        uint256 unbondingPeriod_
    ) AccessManaged(authority) {
        stakingToken = stakingToken_;
        feeToken = feeToken_;
        registry = registry_;
        _setMinStake(minStake_);
        _checkBounds("unbondingPeriod", unbondingPeriod_, 1 hours, 365 days);
        _unbondingPeriod = unbondingPeriod_;
        emit UnbondingPeriodSet(unbondingPeriod_);
    }

    // ================================================================ governance

    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    function setMinStake(uint256 minStake_) external restricted {
        _setMinStake(minStake_);
    }

    /// @notice The unbonding period must stay strictly longer than the longest window in which the escrow and
    /// disputes can still slash for a fault.
    function setUnbondingPeriod(uint256 period) external restricted {
        uint256 longest = address(_slashWindowSource) == address(0) ? 0 : _slashWindowSource.longestSlashableWindow();
        _checkBounds("unbondingPeriod", period, longest + 1, 365 days);
        _unbondingPeriod = period;
        emit UnbondingPeriodSet(period);
    }

    /// @notice The contract whose windows bound how long a fault stays slashable (the job escrow).
    function setSlashWindowSource(ISlashWindowSource source) external restricted {
        uint256 longest = source.longestSlashableWindow();
        _checkBounds("unbondingPeriod", _unbondingPeriod, longest + 1, 365 days);
        _slashWindowSource = source;
        emit SlashWindowSourceSet(address(source));
    }

    /// @inheritdoc INodeStaking
    function setProtocolContract(address account, bool allowed) external restricted {
        require(account != address(0), NodeStakingZeroAddress());
        _protocolContracts[account] = allowed;
        emit ProtocolContractSet(account, allowed);
    }

    // ================================================================ operators

    /// @inheritdoc INodeStaking
    function register(string calldata endpoint, bytes32 encryptionKey) external whenActive(ACTION_REGISTER) {
        Operator storage op = _operators[msg.sender];
        require(!op.registered, NodeStakingAlreadyRegistered(msg.sender));
        _checkEndpoint(endpoint);
        op.registered = true;
        op.endpoint = endpoint;
        op.encryptionKey = encryptionKey;
        op.rewardPerStakePaid = _rewardPerStake;
        emit OperatorRegistered(msg.sender, endpoint, encryptionKey);
    }

    /// @inheritdoc INodeStaking
    function updateNode(string calldata endpoint, bytes32 encryptionKey) external {
        Operator storage op = _registered(msg.sender);
        _checkEndpoint(endpoint);
        op.endpoint = endpoint;
        op.encryptionKey = encryptionKey;
        emit OperatorUpdated(msg.sender, endpoint, encryptionKey);
    }

    /// @inheritdoc INodeStaking
    function stake(uint256 amount) external nonReentrant whenActive(ACTION_STAKE) {
        _stake(amount);
    }

    /// @inheritdoc INodeStaking
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        whenActive(ACTION_STAKE)
    {
        // A front-run permit only consumes the nonce; the allowance it set is then used as is.
        try IERC20Permit(address(stakingToken)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _stake(amount);
    }

    /// @inheritdoc INodeStaking
    function requestUnbond(uint256 amount) external nonReentrant {
        require(amount != 0, NodeStakingZeroAmount());
        Operator storage op = _registered(msg.sender);
        uint256 free = _free(op);
        require(amount <= free, NodeStakingInsufficientFreeStake(msg.sender, amount, free));
        _accrue(msg.sender, op);
        op.stake -= uint96(amount); // amount <= free <= stake
        op.unbonding += uint96(amount); // the sum never exceeds the staked total, itself a uint96
        _totalStaked -= amount;
        uint40 end = uint40(block.timestamp + _unbondingPeriod);
        op.unbondEnd = end;
        emit UnbondRequested(msg.sender, amount, op.unbonding, end);
        _syncSelection(msg.sender, op);
    }

    /// @inheritdoc INodeStaking
    function withdrawUnbonded() external nonReentrant returns (uint256 amount) {
        Operator storage op = _operators[msg.sender];
        amount = op.unbonding;
        require(amount != 0, NodeStakingNothingToWithdraw(msg.sender));
        require(block.timestamp >= op.unbondEnd, NodeStakingUnbondNotReady(msg.sender, op.unbondEnd, block.timestamp));
        op.unbonding = 0;
        emit UnbondWithdrawn(msg.sender, amount);
        stakingToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc INodeStaking
    function joinModel(bytes32 modelId) external whenActive(ACTION_JOIN_MODEL) {
        Operator storage op = _registered(msg.sender);
        uint24 index = registry.activeIndex(modelId);
        uint24[] storage served = _servedModels[msg.sender];
        uint256 n = served.length;
        require(n < MAX_MODELS_PER_OPERATOR, NodeStakingTooManyModels(msg.sender, MAX_MODELS_PER_OPERATOR));
        for (uint256 i; i < n; ++i) {
            require(served[i] != index, NodeStakingAlreadyServing(msg.sender, modelId));
        }
        served.push(index);
        emit ModelJoined(msg.sender, modelId);
        if (op.eligible) _trees[index].insert(msg.sender, op.stake);
    }

    /// @inheritdoc INodeStaking
    function leaveModel(bytes32 modelId) external {
        _registered(msg.sender);
        uint24[] storage served = _servedModels[msg.sender];
        uint256 n = served.length;
        for (uint256 i; i < n; ++i) {
            uint24 index = served[i];
            if (registry.modelIdAt(index) != modelId) continue;
            served[i] = served[n - 1];
            served.pop();
            SortitionTree.Tree storage tree = _trees[index];
            if (tree.contains(msg.sender)) tree.remove(msg.sender);
            emit ModelLeft(msg.sender, modelId);
            return;
        }
        revert NodeStakingNotServing(msg.sender, modelId);
    }

    /// @inheritdoc INodeStaking
    function claimRewards(address to) external nonReentrant returns (uint256 amount) {
        Operator storage op = _operators[msg.sender];
        _accrue(msg.sender, op);
        amount = op.rewards;
        if (amount == 0) return 0;
        op.rewards = 0;
        emit RewardsClaimed(msg.sender, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    // ================================================================ protocol

    /// @inheritdoc INodeStaking
    function assign(uint256 modelIndex, uint256 k, uint256 seed, uint256 collateral, address[] calldata exclude)
        external
        onlyProtocol
        returns (address[] memory operators)
    {
        SortitionTree.Tree storage tree = _trees[modelIndex];
        {
            uint256 available = tree.members;
            require(available >= k + exclude.length || _enoughAfterExclusion(tree, k, exclude),
                NodeStakingNotEnoughOperators(modelIndex, k, available));
        }
        operators = new address[](k);
        // Sampling without replacement. Excluded members are set aside first, and so is every member drawn without
        // the free stake; a member drawn a second time is rejected (an exact rejection sampler: the common collision
        // reads no prefix sums), and set aside once k rejections have happened, so that a dominant member cannot
        // exhaust the draws. Every draw is among the members not set aside, with probability proportional to stake:
        // the draw fills k slots whenever k eligible members exist, within 3k - 1 + MAX_INELIGIBLE_DRAWS draws
        // (issue 17, L-1).
        SortitionTree.Aside memory aside = SortitionTree.newAside(exclude.length + k + MAX_INELIGIBLE_DRAWS);
        for (uint256 i; i < exclude.length; ++i) {
            tree.setAside(aside, exclude[i]);
        }
        uint256 chosen;
        uint256 rejected;
        uint256 total = tree.total;
        for (uint256 attempt; attempt < 3 * k - 1 + MAX_INELIGIBLE_DRAWS && chosen < k && aside.total < total; ++attempt) {
            address candidate = tree.drawExcept(aside, Randomness.at(seed, attempt));
            if (_contains(operators, chosen, candidate)) {
                if (++rejected > k) tree.setAside(aside, candidate); // repeated collisions: stop drawing it
                continue;
            }
            Operator storage op = _operators[candidate];
            if (_free(op) < collateral) {
                tree.setAside(aside, candidate); // busy: the next draws are among the others
                continue;
            }
            uint96 locked;
            // unchecked: locked + collateral <= stake, itself a uint96.
            unchecked {
                locked = op.locked + uint96(collateral);
            }
            op.locked = locked;
            emit CollateralLocked(candidate, collateral, locked);
            operators[chosen++] = candidate;
        }
        require(chosen == k, NodeStakingNotEnoughOperators(modelIndex, k, chosen));
    }

    /// @inheritdoc INodeStaking
    function release(address account, uint256 collateral) external onlyProtocol {
        Operator storage op = _operators[account];
        _release(account, op, collateral);
    }

    /// @inheritdoc INodeStaking
    function releaseMany(address[] calldata operators, uint256[] calldata collaterals) external onlyProtocol {
        uint256 n = operators.length;
        require(n == collaterals.length, NodeStakingLengthMismatch(n, collaterals.length));
        for (uint256 i; i < n; ++i) {
            address account = operators[i];
            _release(account, _operators[account], collaterals[i]);
        }
    }

    /// @inheritdoc INodeStaking
    function slash(address account, uint256 collateral, uint256 amount, address recipient)
        external
        onlyProtocol
        nonReentrant
        returns (uint256 slashed)
    {
        Operator storage op = _operators[account];
        _release(account, op, collateral);
        if (amount == 0) return 0;
        _accrue(account, op);
        uint256 fromStake = amount < op.stake ? amount : op.stake;
        uint256 fromUnbonding = amount - fromStake;
        if (fromUnbonding > op.unbonding) fromUnbonding = op.unbonding;
        op.stake -= uint96(fromStake);
        op.unbonding -= uint96(fromUnbonding);
        _totalStaked -= fromStake;
        // Locked collateral can never exceed the stake backing it.
        if (op.locked > op.stake) op.locked = op.stake;
        slashed = fromStake + fromUnbonding;
        emit Slashed(account, slashed, fromUnbonding, recipient);
        _syncSelection(account, op);
        if (slashed != 0) stakingToken.safeTransfer(recipient == address(0) ? BURN_ADDRESS : recipient, slashed);
    }

    /// @inheritdoc INodeStaking
    function notifyRewards(uint256 amount) external onlyProtocol {
        uint256 total = _totalStaked;
        if (total == 0) {
            _undistributedRewards += amount;
            emit RewardsNotified(amount, _rewardPerStake);
            return;
        }
        amount += _undistributedRewards;
        _undistributedRewards = 0;
        // Rounds down: the scaled remainder is carried to the next notification, so nothing is lost.
        uint256 scaled = amount * REWARD_PRECISION + _rewardRemainder;
        uint256 delta = scaled / total;
        _rewardRemainder = scaled - delta * total;
        _rewardPerStake += delta;
        emit RewardsNotified(amount, _rewardPerStake);
    }

    // ================================================================ views

    /// @inheritdoc INodeStaking
    function isProtocolContract(address account) external view returns (bool) {
        return _protocolContracts[account];
    }

    /// @inheritdoc INodeStaking
    function operator(address account) external view returns (OperatorView memory v) {
        Operator storage op = _operators[account];
        v.registered = op.registered;
        v.stake = op.stake;
        v.locked = op.locked;
        v.unbonding = op.unbonding;
        v.unbondEnd = op.unbondEnd;
        v.encryptionKey = op.encryptionKey;
        v.endpoint = op.endpoint;
        v.eligible = op.eligible;
        uint24[] storage served = _servedModels[account];
        v.models = new bytes32[](served.length);
        for (uint256 i; i < served.length; ++i) {
            v.models[i] = registry.modelIdAt(served[i]);
        }
    }

    /// @inheritdoc INodeStaking
    function freeStake(address account) external view returns (uint256) {
        return _free(_operators[account]);
    }

    /// @inheritdoc INodeStaking
    function isServing(address account, bytes32 modelId) external view returns (bool) {
        uint24[] storage served = _servedModels[account];
        for (uint256 i; i < served.length; ++i) {
            if (registry.modelIdAt(served[i]) == modelId) return true;
        }
        return false;
    }

    /// @inheritdoc INodeStaking
    function eligibleCount(uint256 modelIndex) external view returns (uint256) {
        return _trees[modelIndex].members;
    }

    /// @inheritdoc INodeStaking
    function modelWeight(uint256 modelIndex) external view returns (uint256) {
        return _trees[modelIndex].total;
    }

    /// @inheritdoc INodeStaking
    function pendingRewards(address account) external view returns (uint256) {
        Operator storage op = _operators[account];
        return op.rewards + uint256(op.stake) * (_rewardPerStake - op.rewardPerStakePaid) / REWARD_PRECISION;
    }

    /// @inheritdoc INodeStaking
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    /// @inheritdoc INodeStaking
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc INodeStaking
    function unbondingPeriod() external view returns (uint256) {
        return _unbondingPeriod;
    }

    /// @notice Rewards notified while nobody staked, waiting for the next notification.
    function undistributedRewards() external view returns (uint256) {
        return _undistributedRewards;
    }

    // ================================================================ internal

    modifier onlyProtocol() {
        require(_protocolContracts[msg.sender], NodeStakingNotProtocol(msg.sender));
        _;
    }

    function _stake(uint256 amount) private {
        require(amount != 0, NodeStakingZeroAmount());
        Operator storage op = _registered(msg.sender);
        _accrue(msg.sender, op);
        uint256 newStake = uint256(op.stake) + amount;
        require(newStake <= type(uint96).max, NodeStakingStakeOverflow(newStake));
        op.stake = uint96(newStake);
        _totalStaked += amount;
        emit Staked(msg.sender, amount, newStake);
        _syncSelection(msg.sender, op);
        // Balance delta: a fee-on-transfer staking token would credit more than arrived.
        uint256 before = stakingToken.balanceOf(address(this));
        stakingToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = stakingToken.balanceOf(address(this)) - before;
        require(received == amount, NodeStakingTransferMismatch(amount, received));
    }

    function _release(address account, Operator storage op, uint256 collateral) private {
        if (collateral == 0) return;
        // Saturating: a slash may already have clamped `locked` to a smaller stake.
        uint96 locked = op.locked;
        uint96 amount = collateral < locked ? uint96(collateral) : locked;
        unchecked {
            locked -= amount; // amount <= locked
        }
        op.locked = locked;
        emit CollateralReleased(account, amount, locked);
    }

    /// @dev Keeps every model tree the operator serves in line with its stake; bounded by MAX_MODELS_PER_OPERATOR.
    function _syncSelection(address account, Operator storage op) private {
        bool eligible = op.stake >= _minStake && op.stake != 0;
        uint256 weight = eligible ? op.stake : 0;
        uint24[] storage served = _servedModels[account];
        uint256 n = served.length;
        for (uint256 i; i < n; ++i) {
            _trees[served[i]].set(account, weight);
        }
        if (eligible != op.eligible) {
            op.eligible = eligible;
            emit EligibilityChanged(account, eligible);
        }
    }

    function _accrue(address account, Operator storage op) private {
        uint256 acc = _rewardPerStake;
        uint256 paid = op.rewardPerStakePaid;
        if (acc == paid) return;
        // Rounds down: dust below one base unit per operator and update stays in the contract.
        op.rewards += uint256(op.stake) * (acc - paid) / REWARD_PRECISION;
        op.rewardPerStakePaid = acc;
        account; // kept for symmetry with events in derived versions
    }

    function _free(Operator storage op) private view returns (uint256) {
        uint256 s = op.stake;
        uint256 l = op.locked;
        return s > l ? s - l : 0;
    }

    function _registered(address account) private view returns (Operator storage op) {
        op = _operators[account];
        require(op.registered, NodeStakingNotRegistered(account));
    }

    function _checkEndpoint(string calldata endpoint) private pure {
        uint256 len = bytes(endpoint).length;
        require(len != 0, NodeStakingEmptyEndpoint());
        require(len <= MAX_ENDPOINT_LENGTH, NodeStakingEndpointTooLong(len, MAX_ENDPOINT_LENGTH));
    }

    function _setMinStake(uint256 value) private {
        _checkBounds("minStake", value, 1, type(uint96).max);
        _minStake = value;
        emit MinStakeSet(value);
    }

    function _checkBounds(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, NodeStakingParameterOutOfBounds(name, value, min, max));
    }

    function _contains(address[] memory list, uint256 n, address a) private pure returns (bool) {
        for (uint256 i; i < n; ++i) {
            if (list[i] == a) return true;
        }
        return false;
    }

    function _enoughAfterExclusion(SortitionTree.Tree storage tree, uint256 k, address[] calldata exclude)
        private
        view
        returns (bool)
    {
        uint256 excludedMembers;
        for (uint256 i; i < exclude.length; ++i) {
            if (tree.contains(exclude[i])) ++excludedMembers;
        }
        return tree.members >= k + excludedMembers;
    }
}
