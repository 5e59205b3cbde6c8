// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {Randomness} from "./libraries/Randomness.sol";
import {PausableActions} from "./libraries/PausableActions.sol";

/// @title JobEscrow
/// @notice Escrow and lifecycle of inference jobs; see IJobEscrow for the documentation of each function.
/// @dev Storage is laid out for the gas budget: a job is two slots, plus one hash slot per operator and, at
/// k > 1, one slot of masks and one slot per extra operator.
contract JobEscrow is IJobEscrow, AccessManaged, PausableActions, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint8 public constant ACTION_SUBMIT = 0;
    uint8 public constant ACTION_DEPOSIT = 1;
    uint8 public constant MAX_REDUNDANCY = 7;
    /// @dev Slot index under which a dispute-resolved result is stored (operators use 0..MAX_REDUNDANCY-1).
    uint8 private constant RESOLVED_SLOT = 7;
    address private constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    struct Job {
        // slot 0
        address requester;
        uint24 modelIndex;
        PayMode payMode;
        uint32 deadline;
        uint32 phaseEnd;
        // slot 1
        address operator0;
        uint80 price;
        Status status;
        uint8 k;
    }

    IERC20 public immutable feeToken;
    IModelRegistry public immutable registry;
    INodeStaking public immutable staking;

    Params private _params;
    address private _creditsPool;
    uint256 private _jobCount;
    uint128 private _treasuryAccrued;
    uint128 private _stakerAccrued;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => mapping(uint256 slot => address)) private _extraOperators; // slots 1..k-1
    mapping(uint256 jobId => mapping(uint256 slot => bytes32)) private _slotHashes;
    /// @dev k > 1 only: bits 0-7 committed, 8-15 revealed, 16-23 missed (slashed and dropped at reveal).
    mapping(uint256 jobId => uint256) private _masks;
    mapping(address account => uint256) private _deposits;
    mapping(address account => uint256) private _earnings;

    constructor(
        address authority,
        IERC20 feeToken_,
        IModelRegistry registry_,
        INodeStaking staking_,
        Params memory params_
    ) AccessManaged(authority) {
        feeToken = feeToken_;
        registry = registry_;
        staking = staking_;
        _setParams(params_);
    }

    // ================================================================ governance

    function setParams(Params calldata params_) external restricted {
        _setParams(params_);
    }

    function setCreditsPool(address pool) external restricted {
        _creditsPool = pool;
        emit CreditsPoolSet(pool);
    }

    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    // ================================================================ requesters

    /// @inheritdoc IJobEscrow
    function submitJob(SubmitParams calldata p) external nonReentrant whenActive(ACTION_SUBMIT) returns (uint256 jobId) {
        uint256 fee;
        (jobId, fee) = _submit(msg.sender, p, PayMode.Deposit);
        _pull(msg.sender, fee);
    }

    /// @inheritdoc IJobEscrow
    function submitJobWithPermit(
        SubmitParams calldata p,
        uint256 permitValue,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant whenActive(ACTION_SUBMIT) returns (uint256 jobId) {
        // A front-run permit only spends the nonce; the allowance it set is used all the same.
        try IERC20Permit(address(feeToken)).permit(msg.sender, address(this), permitValue, permitDeadline, v, r, s) {}
            catch {}
        uint256 fee;
        (jobId, fee) = _submit(msg.sender, p, PayMode.Deposit);
        _pull(msg.sender, fee);
    }

    /// @inheritdoc IJobEscrow
    function submitJobFromDeposit(SubmitParams calldata p)
        external
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (uint256 jobId)
    {
        uint256 fee;
        (jobId, fee) = _submit(msg.sender, p, PayMode.Deposit);
        uint256 balance = _deposits[msg.sender];
        require(balance >= fee, JobEscrowInsufficientDeposit(msg.sender, balance, fee));
        unchecked {
            _deposits[msg.sender] = balance - fee; // checked just above
        }
    }

    /// @inheritdoc IJobEscrow
    function submitJobFor(address requester, SubmitParams calldata p)
        external
        restricted
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (uint256 jobId)
    {
        require(msg.sender == _creditsPool, JobEscrowNoCreditsPool());
        uint256 fee;
        (jobId, fee) = _submit(requester, p, PayMode.Allowance);
        _pull(msg.sender, fee);
    }

    /// @inheritdoc IJobEscrow
    function deposit(uint256 amount) external nonReentrant whenActive(ACTION_DEPOSIT) {
        _deposit(msg.sender, amount);
    }

    /// @inheritdoc IJobEscrow
    function depositFor(address account, uint256 amount) external nonReentrant whenActive(ACTION_DEPOSIT) {
        _deposit(account, amount);
    }

    /// @inheritdoc IJobEscrow
    function withdrawDeposit(uint256 amount, address to) external nonReentrant {
        require(amount != 0, JobEscrowZeroAmount());
        uint256 balance = _deposits[msg.sender];
        require(balance >= amount, JobEscrowInsufficientDeposit(msg.sender, balance, amount));
        unchecked {
            _deposits[msg.sender] = balance - amount;
        }
        emit DepositWithdrawn(msg.sender, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    // ================================================================ operators

    /// @inheritdoc IJobEscrow
    function commit(uint256 jobId, uint8 slot, bytes32 commitment) external {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Assigned);
        require(job.k > 1, JobEscrowNoCommitPhase(jobId));
        require(_operatorAt(jobId, job, slot) == msg.sender, JobEscrowNotAssigned(jobId, slot, msg.sender));
        uint32 phaseEnd = job.phaseEnd;
        require(block.timestamp <= phaseEnd, JobEscrowWindowClosed(jobId, phaseEnd, block.timestamp));
        require(commitment != bytes32(0), JobEscrowZeroHash());
        uint256 masks = _masks[jobId];
        uint256 bit = 1 << slot;
        require(masks & bit == 0, JobEscrowAlreadyCommitted(jobId, slot));
        masks |= bit;
        _masks[jobId] = masks;
        _slotHashes[jobId][slot] = commitment;
        emit ResultCommitted(jobId, slot, msg.sender);
        if (masks & 0xff == (1 << job.k) - 1) {
            uint32 end = (block.timestamp + _params.revealWindow).toUint32();
            job.status = Status.Revealing;
            job.phaseEnd = end;
            emit RevealPhaseStarted(jobId, end);
        }
    }

    /// @inheritdoc IJobEscrow
    function reveal(uint256 jobId, uint8 slot, bytes32 resultHash, bytes32 salt) external {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Revealing);
        require(_operatorAt(jobId, job, slot) == msg.sender, JobEscrowNotAssigned(jobId, slot, msg.sender));
        uint32 phaseEnd = job.phaseEnd;
        require(block.timestamp <= phaseEnd, JobEscrowWindowClosed(jobId, phaseEnd, block.timestamp));
        require(resultHash != bytes32(0), JobEscrowZeroHash());
        uint256 masks = _masks[jobId];
        uint256 bit = 1 << (slot + 8);
        require(masks & bit == 0, JobEscrowAlreadyRevealed(jobId, slot));
        require(
            _slotHashes[jobId][slot] == _commitment(jobId, msg.sender, resultHash, salt),
            JobEscrowCommitmentMismatch(jobId, slot)
        );
        masks |= bit;
        _masks[jobId] = masks;
        _slotHashes[jobId][slot] = resultHash;
        emit ResultRevealed(jobId, slot, msg.sender, resultHash);
        if ((masks >> 8) & 0xff == (1 << job.k) - 1) _evaluate(jobId, job, masks);
    }

    /// @inheritdoc IJobEscrow
    function submitResult(uint256 jobId, bytes32 resultHash) external {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Assigned);
        require(job.k == 1, JobEscrowUseCommitReveal(jobId));
        require(job.operator0 == msg.sender, JobEscrowNotAssigned(jobId, 0, msg.sender));
        uint32 phaseEnd = job.phaseEnd;
        require(block.timestamp <= phaseEnd, JobEscrowWindowClosed(jobId, phaseEnd, block.timestamp));
        require(resultHash != bytes32(0), JobEscrowZeroHash());
        _slotHashes[jobId][0] = resultHash;
        emit ResultRevealed(jobId, 0, msg.sender, resultHash);
        _propose(jobId, job, resultHash);
    }

    /// @inheritdoc IJobEscrow
    function withdrawEarnings(address to) external nonReentrant returns (uint256 amount) {
        amount = _earnings[msg.sender];
        require(amount != 0, JobEscrowNothingToWithdraw(msg.sender));
        _earnings[msg.sender] = 0;
        emit EarningsWithdrawn(msg.sender, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    // ================================================================ anyone

    /// @inheritdoc IJobEscrow
    function finalize(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Proposed);
        uint32 phaseEnd = job.phaseEnd;
        require(block.timestamp > phaseEnd, JobEscrowWindowOpen(jobId, phaseEnd, block.timestamp));
        _settle(jobId, job, _proposedResult(jobId, job));
    }

    /// @inheritdoc IJobEscrow
    function finalizeMany(uint256[] calldata jobIds) external nonReentrant returns (uint256 settled) {
        for (uint256 i; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            Job storage job = _jobs[jobId];
            if (job.status != Status.Proposed || block.timestamp <= job.phaseEnd) continue;
            _settle(jobId, job, _proposedResult(jobId, job));
            ++settled;
        }
    }

    /// @inheritdoc IJobEscrow
    function poke(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        Status status = job.status;
        uint32 phaseEnd = job.phaseEnd;
        if (status == Status.None) revert JobEscrowUnknownJob(jobId);
        if (status == Status.Finalized || status == Status.Refunded) revert JobEscrowWrongStatus(jobId, status);
        require(block.timestamp > phaseEnd, JobEscrowWindowOpen(jobId, phaseEnd, block.timestamp));
        if (status == Status.Assigned) _handleMissedCommit(jobId, job);
        else if (status == Status.Revealing) _handleMissedReveal(jobId, job);
        else if (status == Status.Proposed) _settle(jobId, job, _proposedResult(jobId, job));
        else _refund(jobId, job, RefundReason.DisputeUnresolved, _activeSlots(jobId, job));
    }

    /// @inheritdoc IJobEscrow
    function withdrawTreasury() external nonReentrant returns (uint256 amount) {
        amount = _treasuryAccrued;
        require(amount != 0, JobEscrowNothingToWithdraw(_params.treasury));
        _treasuryAccrued = 0;
        address treasury = _params.treasury;
        emit TreasuryWithdrawn(treasury, amount);
        feeToken.safeTransfer(treasury, amount);
    }

    /// @inheritdoc IJobEscrow
    function distributeStakerRewards() external nonReentrant returns (uint256 amount) {
        amount = _stakerAccrued;
        require(amount != 0, JobEscrowNothingToWithdraw(address(staking)));
        _stakerAccrued = 0;
        emit StakerRewardsDistributed(amount);
        feeToken.safeTransfer(address(staking), amount);
        staking.notifyRewards(amount);
    }

    // ================================================================ disputes

    /// @inheritdoc IJobEscrow
    function openDispute(uint256 jobId) external restricted {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Proposed);
        uint32 phaseEnd = job.phaseEnd;
        require(block.timestamp <= phaseEnd, JobEscrowWindowClosed(jobId, phaseEnd, block.timestamp));
        _dispute(jobId, job, DisputeReason.Challenge);
    }

    /// @inheritdoc IJobEscrow
    function resolveDispute(uint256 jobId, bytes32 correctResult) external restricted nonReentrant {
        Job storage job = _jobs[jobId];
        _expectStatus(jobId, job.status, Status.Disputed);
        if (correctResult == bytes32(0)) {
            _refund(jobId, job, RefundReason.NoValidResult, _activeSlots(jobId, job));
            return;
        }
        _slotHashes[jobId][RESOLVED_SLOT] = correctResult;
        _settle(jobId, job, correctResult);
    }

    // ================================================================ views

    /// @inheritdoc IJobEscrow
    function getJob(uint256 jobId) external view returns (JobView memory v) {
        Job storage job = _jobs[jobId];
        require(job.status != Status.None, JobEscrowUnknownJob(jobId));
        v.requester = job.requester;
        v.modelId = registry.modelIdAt(job.modelIndex);
        v.status = job.status;
        v.payMode = job.payMode;
        v.redundancy = job.k;
        v.price = job.price;
        v.deadline = job.deadline;
        v.phaseEnd = job.phaseEnd;
        v.operators = new address[](job.k);
        v.slotHashes = new bytes32[](job.k);
        for (uint256 i; i < job.k; ++i) {
            v.operators[i] = _operatorAt(jobId, job, i);
            v.slotHashes[i] = _slotHashes[jobId][i];
        }
        uint256 masks = _masks[jobId];
        v.commitMask = uint8(masks);
        v.revealMask = uint8(masks >> 8);
        v.missedMask = uint8(masks >> 16);
        bytes32 resolved = _slotHashes[jobId][RESOLVED_SLOT];
        if (resolved != bytes32(0)) v.result = resolved;
        else if (job.status == Status.Proposed || job.status == Status.Finalized) v.result = _proposedResult(jobId, job);
    }

    /// @inheritdoc IJobEscrow
    function jobStatus(uint256 jobId) external view returns (Status) {
        return _jobs[jobId].status;
    }

    /// @inheritdoc IJobEscrow
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IJobEscrow
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IJobEscrow
    function depositOf(address account) external view returns (uint256) {
        return _deposits[account];
    }

    /// @inheritdoc IJobEscrow
    function earningsOf(address account) external view returns (uint256) {
        return _earnings[account];
    }

    /// @inheritdoc IJobEscrow
    function treasuryAccrued() external view returns (uint256) {
        return _treasuryAccrued;
    }

    /// @inheritdoc IJobEscrow
    function stakerRewardsAccrued() external view returns (uint256) {
        return _stakerAccrued;
    }

    /// @notice The compute-credit allowance pool allowed to submit jobs for others.
    function creditsPool() external view returns (address) {
        return _creditsPool;
    }

    /// @inheritdoc IJobEscrow
    function commitmentOf(uint256 jobId, address operator, bytes32 resultHash, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitment(jobId, operator, resultHash, salt);
    }

    /// @notice A fault can be slashed until: the latest deadline, then the challenge window, then a dispute.
    function longestSlashableWindow() public view returns (uint256) {
        Params storage p = _params;
        return uint256(p.maxJobDuration) + p.challengeWindow + p.disputeWindow;
    }

    // ================================================================ lifecycle internals

    struct Terms {
        uint24 index;
        uint80 price;
        uint8 k;
        bytes32 inputHash;
    }

    function _submit(address requester, SubmitParams calldata p, PayMode payMode)
        private
        returns (uint256 jobId, uint256 fee)
    {
        Terms memory t = _terms(p);
        fee = uint256(t.price) * t.k;
        unchecked {
            jobId = ++_jobCount; // a uint256 counter incremented by one per job cannot overflow
        }
        _assign(jobId, requester, p.deadline, t, payMode);
        emit JobSubmitted(jobId, requester, p.modelId, t.k, fee, p.deadline, payMode, t.inputHash, p.input, p.inputURI);
    }

    /// @dev Every check of a submission, before anything moves.
    function _terms(SubmitParams calldata p) private view returns (Terms memory t) {
        bool active;
        uint8 defaultK;
        (t.index, t.price, defaultK, active) = registry.jobTerms(p.modelId);
        require(active, JobEscrowModelInactive(p.modelId));
        t.k = p.redundancy == 0 ? defaultK : p.redundancy;
        require(t.k <= MAX_REDUNDANCY, JobEscrowInvalidRedundancy(t.k, MAX_REDUNDANCY));
        Params storage params_ = _params;
        require(t.price >= params_.minPrice, JobEscrowPriceBelowMinimum(p.modelId, t.price, params_.minPrice));
        uint256 fee = uint256(t.price) * t.k;
        require(fee <= p.maxFee, JobEscrowFeeAboveMax(fee, p.maxFee));
        t.inputHash = _checkInput(p, params_.maxInputBytes);
        uint256 earliest = block.timestamp + params_.commitWindow + (t.k > 1 ? params_.revealWindow : 0);
        require(p.deadline >= earliest, JobEscrowDeadlineTooSoon(p.deadline, earliest));
        uint256 latest = block.timestamp + params_.maxJobDuration;
        require(p.deadline <= latest, JobEscrowDeadlineTooLate(p.deadline, latest));
    }

    /// @dev Draws the operators, locks their collateral and stores the job.
    function _assign(uint256 jobId, address requester, uint32 deadline, Terms memory t, PayMode payMode) private {
        Params storage params_ = _params;
        address[] memory ops =
            staking.assign(t.index, t.k, Randomness.draw(bytes32(jobId)), params_.collateral, new address[](0));
        uint32 phaseEnd = uint32(block.timestamp + params_.commitWindow); // <= deadline, itself a uint32
        Job storage job = _jobs[jobId];
        job.requester = requester;
        job.modelIndex = t.index;
        job.payMode = payMode;
        job.deadline = deadline;
        job.phaseEnd = phaseEnd;
        job.operator0 = ops[0];
        job.price = t.price;
        job.status = Status.Assigned;
        job.k = t.k;
        uint8[] memory slots = new uint8[](t.k);
        for (uint256 i = 1; i < t.k; ++i) {
            _extraOperators[jobId][i] = ops[i];
            slots[i] = uint8(i);
        }
        emit OperatorsAssigned(jobId, slots, ops, phaseEnd);
    }

    function _checkInput(SubmitParams calldata p, uint256 maxInputBytes) private pure returns (bytes32) {
        uint256 inlineSize = p.input.length;
        bool byReference = bytes(p.inputURI).length != 0;
        if (inlineSize != 0) {
            require(!byReference, JobEscrowAmbiguousInput());
            require(inlineSize <= maxInputBytes, JobEscrowInputTooLarge(inlineSize, maxInputBytes));
            return sha256(p.input);
        }
        require(byReference, JobEscrowEmptyInput());
        require(bytes(p.inputURI).length <= 2048, JobEscrowInputTooLarge(bytes(p.inputURI).length, 2048));
        require(p.inputHash != bytes32(0), JobEscrowMissingInputHash());
        return p.inputHash;
    }

    function _propose(uint256 jobId, Job storage job, bytes32 resultHash) private {
        uint32 end = (block.timestamp + _params.challengeWindow).toUint32();
        job.status = Status.Proposed;
        job.phaseEnd = end;
        emit ResultProposed(jobId, resultHash, end);
    }

    function _dispute(uint256 jobId, Job storage job, DisputeReason reason) private {
        uint32 end = (block.timestamp + _params.disputeWindow).toUint32();
        job.status = Status.Disputed;
        job.phaseEnd = end;
        emit JobDisputed(jobId, reason, end);
    }

    /// @dev k > 1: all revealed (not missed) results agree -> proposed, else disputed.
    function _evaluate(uint256 jobId, Job storage job, uint256 masks) private {
        uint256 revealed = (masks >> 8) & 0xff;
        bytes32 first;
        for (uint256 i; i < job.k; ++i) {
            if (revealed & (1 << i) == 0) continue;
            bytes32 h = _slotHashes[jobId][i];
            if (first == bytes32(0)) first = h;
            else if (h != first) return _dispute(jobId, job, DisputeReason.Disagreement);
        }
        _propose(jobId, job, first);
    }

    function _handleMissedCommit(uint256 jobId, Job storage job) private {
        uint256 k = job.k;
        uint256 committed = k == 1 ? 0 : _masks[jobId] & 0xff;
        Params memory p = _params;
        address[] memory current = new address[](k);
        uint256 missing;
        for (uint256 i; i < k; ++i) {
            current[i] = _operatorAt(jobId, job, i);
            if (committed & (1 << i) == 0) ++missing;
        }
        // Penalise every slot that did not take up its job.
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) != 0) continue;
            uint256 slashed = staking.slash(current[i], p.collateral, p.missPenalty, _missRecipient(p));
            emit SlotMissed(jobId, uint8(i), current[i], Status.Assigned, slashed);
        }
        // Replace them when the job's deadline still allows a full round, otherwise refund.
        uint256 nextEnd = block.timestamp + p.commitWindow;
        if (nextEnd + (k > 1 ? p.revealWindow : 0) <= job.deadline) {
            try staking.assign(job.modelIndex, missing, Randomness.draw(bytes32(jobId)), p.collateral, current)
            returns (address[] memory fresh) {
                uint8[] memory slots = new uint8[](missing);
                uint256 n;
                for (uint256 i; i < k; ++i) {
                    if (committed & (1 << i) != 0) continue;
                    slots[n] = uint8(i);
                    if (i == 0) job.operator0 = fresh[n];
                    else _extraOperators[jobId][i] = fresh[n];
                    ++n;
                }
                job.phaseEnd = uint32(nextEnd);
                emit OperatorsAssigned(jobId, slots, fresh, uint32(nextEnd));
                return;
            } catch {
                // Not enough eligible operators left: fall through to the refund.
            }
        }
        // Committed operators are released without pay: the job failed through no fault of theirs, and
        // the requester gets everything back.
        uint256 keep;
        address[] memory release = new address[](k - missing);
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) != 0) release[keep++] = current[i];
        }
        _refund(jobId, job, RefundReason.DeadlinePassed, release);
    }

    function _handleMissedReveal(uint256 jobId, Job storage job) private {
        uint256 masks = _masks[jobId];
        uint256 revealed = (masks >> 8) & 0xff;
        Params memory p = _params;
        uint256 missed;
        for (uint256 i; i < job.k; ++i) {
            if (revealed & (1 << i) != 0) continue;
            address op = _operatorAt(jobId, job, i);
            missed |= 1 << i;
            uint256 slashed = staking.slash(op, p.collateral, p.missPenalty, _missRecipient(p));
            emit SlotMissed(jobId, uint8(i), op, Status.Revealing, slashed);
        }
        masks |= missed << 16;
        _masks[jobId] = masks;
        if (revealed == 0) {
            _refund(jobId, job, RefundReason.NoReveals, new address[](0));
            return;
        }
        _evaluate(jobId, job, masks);
    }

    /// @dev Pays every operator whose result equals `result`; the shares of the others go back to the payer.
    /// Releases the collateral of every slot not already released by a miss penalty.
    function _settle(uint256 jobId, Job storage job, bytes32 result) private {
        (address[] memory paid, uint256 paidCount) = _releaseAndCollect(jobId, job, result);
        job.status = Status.Finalized;
        _distribute(jobId, job, result, paid, paidCount);
    }

    function _releaseAndCollect(uint256 jobId, Job storage job, bytes32 result)
        private
        returns (address[] memory paid, uint256 paidCount)
    {
        uint256 k = job.k;
        uint256 masks = _masks[jobId];
        uint256 collateral = _params.collateral;
        paid = new address[](k);
        for (uint256 i; i < k; ++i) {
            if (masks & (1 << (i + 16)) != 0) continue; // missed: already released by its penalty
            address op = _operatorAt(jobId, job, i);
            if (_slotHashes[jobId][i] == result && (k == 1 || masks & (1 << (i + 8)) != 0)) paid[paidCount++] = op;
            staking.release(op, collateral);
        }
    }

    function _distribute(uint256 jobId, Job storage job, bytes32 result, address[] memory paid, uint256 paidCount)
        private
    {
        uint256 price = job.price;
        uint256 fee = price * paidCount;
        uint256 refund = price * (job.k - paidCount);
        (address owner, uint16 royaltyBps) = registry.payee(job.modelIndex);
        Params storage p = _params;
        if (royaltyBps > p.maxRoyaltyBps) royaltyBps = p.maxRoyaltyBps;
        FeeMath.Split memory s = FeeMath.split(fee, paidCount, royaltyBps, p.treasuryBps, p.stakersBps);
        for (uint256 i; i < paidCount; ++i) {
            _earnings[paid[i]] += s.perOperator;
        }
        if (s.royalty != 0) _earnings[owner] += s.royalty;
        // Both accumulators share one slot; each total is bounded by the fee token's supply.
        _treasuryAccrued += s.treasury.toUint128();
        _stakerAccrued += s.stakers.toUint128();
        if (refund != 0) _deposits[_payer(job)] += refund;
        emit JobFinalized(jobId, result, uint8(paidCount), fee, refund, s.royalty, s.treasury, s.stakers, s.perOperator);
    }

    function _refund(uint256 jobId, Job storage job, RefundReason reason, address[] memory release) private {
        uint256 collateral = _params.collateral;
        for (uint256 i; i < release.length; ++i) {
            staking.release(release[i], collateral);
        }
        job.status = Status.Refunded;
        uint256 amount = uint256(job.price) * job.k;
        address payer = _payer(job);
        _deposits[payer] += amount;
        emit JobRefunded(jobId, payer, amount, reason);
    }

    /// @dev Operators of every slot whose collateral is still locked (all but the missed ones).
    function _activeSlots(uint256 jobId, Job storage job) private view returns (address[] memory ops) {
        uint256 missed = (_masks[jobId] >> 16) & 0xff;
        uint256 k = job.k;
        ops = new address[](k);
        uint256 n;
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) == 0) ops[n++] = _operatorAt(jobId, job, i);
        }
        assembly ("memory-safe") {
            mstore(ops, n) // shrink to the slots actually collected
        }
    }

    function _proposedResult(uint256 jobId, Job storage job) private view returns (bytes32) {
        if (job.k == 1) return _slotHashes[jobId][0];
        uint256 revealed = (_masks[jobId] >> 8) & 0xff;
        for (uint256 i; i < job.k; ++i) {
            if (revealed & (1 << i) != 0) return _slotHashes[jobId][i];
        }
        return bytes32(0);
    }

    function _operatorAt(uint256 jobId, Job storage job, uint256 slot) private view returns (address) {
        if (slot == 0) return job.operator0;
        if (slot >= job.k) return address(0);
        return _extraOperators[jobId][slot];
    }

    function _payer(Job storage job) private view returns (address) {
        if (job.payMode == PayMode.Allowance) {
            address pool = _creditsPool;
            require(pool != address(0), JobEscrowNoCreditsPool());
            return pool;
        }
        return job.requester;
    }

    function _missRecipient(Params memory p) private view returns (address) {
        if (p.missSlashTo == SlashDestination.Treasury) return p.treasury;
        if (p.missSlashTo == SlashDestination.Caller) return msg.sender;
        return BURN_ADDRESS;
    }

    function _commitment(uint256 jobId, address operator, bytes32 resultHash, bytes32 salt)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), block.chainid, jobId, operator, resultHash, salt));
    }

    function _expectStatus(uint256 jobId, Status status, Status expected) private pure {
        if (status == expected) return;
        if (status == Status.None) revert JobEscrowUnknownJob(jobId);
        revert JobEscrowWrongStatus(jobId, status);
    }

    // ================================================================ payments

    function _deposit(address account, uint256 amount) private {
        require(amount != 0, JobEscrowZeroAmount());
        _deposits[account] += amount;
        emit Deposited(account, msg.sender, amount);
        _pull(msg.sender, amount);
    }

    /// @dev Balance-delta check: fee-on-transfer tokens are rejected rather than under-collateralising escrow.
    function _pull(address from, uint256 amount) private {
        uint256 before = feeToken.balanceOf(address(this));
        feeToken.safeTransferFrom(from, address(this), amount);
        uint256 received = feeToken.balanceOf(address(this)) - before;
        require(received == amount, JobEscrowTransferMismatch(amount, received));
    }

    // ================================================================ parameters

    function _setParams(Params memory p) private {
        _bound("commitWindow", p.commitWindow, 30, 7 days);
        _bound("revealWindow", p.revealWindow, 30, 7 days);
        _bound("challengeWindow", p.challengeWindow, 30, 30 days);
        _bound("disputeWindow", p.disputeWindow, 60, 30 days);
        _bound("maxJobDuration", p.maxJobDuration, uint256(p.commitWindow) + p.revealWindow, 30 days);
        _bound("maxInputBytes", p.maxInputBytes, 32, 128 * 1024);
        _bound("feeBps", uint256(p.treasuryBps) + p.stakersBps + p.maxRoyaltyBps, 0, FeeMath.BPS);
        _bound("minPrice", p.minPrice, 1, type(uint80).max);
        _bound("collateral", p.collateral, 1, staking.minStake());
        _bound("missPenalty", p.missPenalty, 0, p.collateral);
        _bound("treasury", uint160(p.treasury), 1, type(uint160).max);
        uint256 longest = uint256(p.maxJobDuration) + p.challengeWindow + p.disputeWindow;
        uint256 unbonding = staking.unbondingPeriod();
        _bound("longestSlashableWindow", longest, 0, unbonding == 0 ? 0 : unbonding - 1);
        _params = p;
        emit ParamsSet(p);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, JobEscrowParameterOutOfBounds(name, value, min, max));
    }
}
