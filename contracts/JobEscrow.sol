// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {Randomness} from "./libraries/Randomness.sol";
import {PausableActions} from "./libraries/PausableActions.sol";
import {JobEscrowStorage} from "./JobEscrowStorage.sol";
import {JobEscrowViews} from "./JobEscrowViews.sol";

/// @title JobEscrow
/// @notice Escrow and lifecycle of inference jobs; see IJobEscrow for the documentation of each function.
/// @dev Storage is laid out for the gas budget (snapshots/gas.md): a job record is two slots, plus one hash slot
/// per operator and, at k > 1, one slot per extra operator; records are recycled (JobEscrowStorage: a settled job's
/// record is overwritten by a later submission, non-zero slots costing 5,000 gas instead of 22,100, and job ids
/// carry the record's generation). `getJob` lives in JobEscrowViews (delegatecalled) for code room. Slot 0 of a job holds everything that submitResult,
/// commit and reveal read and write (operator 0, phase end, status, k, commit and reveal masks), so each of
/// them touches one job slot. Settlement accumulates credits per account in memory and writes each balance
/// once per batch (finalizeMany, claim). Multicall lets an operator post for many jobs in one transaction
/// (one 21,000 intrinsic charge instead of one per post); it is safe here because no function is payable and
/// every nonReentrant function sets and clears the transient guard within its own delegatecall.
contract JobEscrow is JobEscrowStorage, IJobEscrow, AccessManaged, PausableActions, ReentrancyGuardTransient, Multicall {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint8 private constant ACTION_SUBMIT = 0;
    uint8 private constant ACTION_DEPOSIT = 1;
    address private constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    /// @dev First four bytes ("VEIL") of a private job's inline input envelope (docs/privacy.md).
    bytes4 private constant ENVELOPE_MAGIC = 0x5645494c;
    /// @dev Largest per-slot price a job can store (72 bits); see JobEscrowPriceAboveMaximum.
    uint256 private constant MAX_PRICE = type(uint72).max;

    /// @dev Settlement of one or more jobs, accumulated in memory and written once (see _flush).
    struct Batch {
        address[] accounts; // earnings credits, one entry per account
        uint256[] credits;
        uint256 nCredits;
        address[] operators; // collateral to release, one entry per operator
        uint256[] releases;
        uint256 nReleases;
        uint256 model; // payee of the last model settled: index (0 = none), owner, capped royalty
        address owner;
        uint256 royaltyBps;
        uint256 treasury;
        uint256 stakers;
        uint256 collateral;
    }

    IERC20 public immutable feeToken;
    IModelRegistry public immutable registry;
    INodeStaking public immutable staking;

    /// @dev Read-only extension holding `getJob` (delegatecalled: it reads this contract's storage).
    address private immutable _views;

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
        _views = address(new JobEscrowViews(registry_));
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
        return _submitPaid(p);
    }

    /// @inheritdoc IJobEscrow
    function permitFeeToken(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external {
        // A front-run permit only spends the nonce; the allowance it set is used all the same.
        try IERC20Permit(address(feeToken)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    /// @inheritdoc IJobEscrow
    function submitJobFromDeposit(SubmitParams calldata p)
        external
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (uint256 jobId)
    {
        uint256 fee;
        (jobId, fee) = _submit(msg.sender, p, 0);
        _debitDeposit(fee);
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
        (jobId, fee) = _submit(requester, p, ALLOWANCE_BIT);
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
        _debitDeposit(amount);
        emit DepositWithdrawn(msg.sender, to, amount);
        feeToken.safeTransfer(to, amount);
    }

    // ================================================================ operators

    /// @inheritdoc IJobEscrow
    function commit(uint256 jobId, uint8 slot, bytes32 commitment) external {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Assigned);
        uint256 k = _k(job);
        require(k > 1, JobEscrowNoCommitPhase(jobId));
        _checkPost(jobId, _operatorAt(jobId, job, slot), slot, job.phaseEnd, commitment);
        uint256 committed = job.commitMask;
        uint256 bit = 1 << slot; // slot < k <= 7: _operatorAt returned the caller
        require((committed | job.revealMask) & bit == 0, JobEscrowAlreadyCommitted(jobId, slot));
        committed |= bit;
        job.commitMask = uint8(committed);
        _slotHashes[uint32(jobId)][slot] = commitment;
        emit ResultCommitted(jobId, slot, msg.sender);
        uint256 full = (1 << k) - 1;
        if (committed == full) {
            uint32 end = (block.timestamp + _params.revealWindow).toUint32();
            job.status = Status.Revealing;
            job.phaseEnd = end;
            emit RevealPhaseStarted(jobId, end);
        } else if ((committed | job.revealMask) == full) {
            // The rest declined: nobody has anything left to commit, so their slots can be replaced now.
            job.phaseEnd = uint32(block.timestamp - 1);
        }
    }

    /// @inheritdoc IJobEscrow
    function reveal(uint256 jobId, uint8 slot, bytes32 resultHash, bytes32 salt) external {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Revealing);
        _checkPost(jobId, _operatorAt(jobId, job, slot), slot, job.phaseEnd, resultHash);
        uint256 revealed = job.revealMask;
        uint256 bit = 1 << slot; // slot < k <= 7
        require(revealed & bit == 0, JobEscrowAlreadyRevealed(jobId, slot));
        require(
            _slotHashes[uint32(jobId)][slot] == _commitment(jobId, msg.sender, resultHash, salt),
            JobEscrowCommitmentMismatch(jobId, slot)
        );
        revealed |= bit;
        job.revealMask = uint8(revealed);
        _slotHashes[uint32(jobId)][slot] = resultHash;
        emit ResultRevealed(jobId, slot, msg.sender, resultHash);
        if (revealed == (1 << _k(job)) - 1) _evaluate(jobId, job, revealed);
    }

    /// @inheritdoc IJobEscrow
    function submitResult(uint256 jobId, bytes32 resultHash) external {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Assigned);
        require(_k(job) == 1, JobEscrowUseCommitReveal(jobId));
        _checkPost(jobId, job.operator0, 0, job.phaseEnd, resultHash);
        job.commitMask = 1; // posted (getJob shows slot hashes of posted slots only)
        _slotHashes[uint32(jobId)][0] = resultHash;
        emit ResultRevealed(jobId, 0, msg.sender, resultHash);
        _propose(jobId, job, resultHash);
    }

    /// @inheritdoc IJobEscrow
    function decline(uint256 jobId, uint8 slot) external {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Assigned);
        uint256 kMode = job.kMode;
        require(kMode & DECLINABLE_BIT != 0, JobEscrowNotDeclinable(jobId));
        _checkPost(jobId, _operatorAt(jobId, job, slot), slot, job.phaseEnd, bytes32(kMode)); // kMode != 0: no hash here
        uint256 bit = 1 << slot;
        uint256 done = job.commitMask | job.revealMask;
        require(done & bit == 0, JobEscrowAlreadyCommitted(jobId, slot));
        job.revealMask |= uint8(bit);
        emit SlotDeclined(jobId, slot, msg.sender);
        // Every slot committed or declined: nobody has anything left to post, so the slots can be replaced now.
        if ((done | bit) == (1 << (kMode & K_MASK)) - 1) job.phaseEnd = uint32(block.timestamp - 1);
    }

    /// @inheritdoc IJobEscrow
    function withdrawEarnings(address to) external nonReentrant returns (uint256 amount) {
        amount = _payEarnings(to, 0);
        require(amount != 0, JobEscrowNothingToWithdraw(msg.sender));
    }

    // ================================================================ anyone

    /// @inheritdoc IJobEscrow
    function finalize(uint256 jobId) external nonReentrant {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Proposed);
        _checkClosed(jobId, job.phaseEnd);
        _settleOne(jobId, job, _proposedResult(jobId, job));
    }

    /// @inheritdoc IJobEscrow
    function finalizeMany(uint256[] calldata jobIds) external nonReentrant returns (uint256 settled) {
        (settled,) = _finalizeMany(jobIds, address(0));
    }

    /// @inheritdoc IJobEscrow
    function claim(uint256[] calldata jobIds, address to) external nonReentrant returns (uint256 settled, uint256 amount) {
        (settled, amount) = _finalizeMany(jobIds, msg.sender);
        amount = _payEarnings(to, amount);
    }

    /// @inheritdoc IJobEscrow
    function poke(uint256 jobId) external nonReentrant {
        Job storage job = _jobOf(jobId);
        Status status = job.status;
        uint32 phaseEnd = job.phaseEnd;
        if (status == Status.None) revert JobEscrowUnknownJob(jobId);
        if (status == Status.Finalized || status == Status.Refunded) revert JobEscrowWrongStatus(jobId, status);
        _checkClosed(jobId, phaseEnd);
        if (status == Status.Assigned) _handleMissedCommit(jobId, job);
        else if (status == Status.Revealing) _handleMissedReveal(jobId, job);
        else if (status == Status.Proposed) _settleOne(jobId, job, _proposedResult(jobId, job));
        else _refund(jobId, job, RefundReason.DisputeUnresolved, _activeSlots(jobId, job));
    }

    /// @inheritdoc IJobEscrow
    function withdrawTreasury() external nonReentrant returns (uint256 amount) {
        address treasury = _params.treasury;
        amount = _treasuryAccrued;
        require(amount != 0, JobEscrowNothingToWithdraw(treasury));
        _treasuryAccrued = 0;
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
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Proposed);
        _checkOpen(jobId, job.phaseEnd);
        _dispute(jobId, job, DisputeReason.Challenge);
    }

    /// @inheritdoc IJobEscrow
    function resolveDispute(uint256 jobId, bytes32 correctResult) external restricted nonReentrant {
        Job storage job = _jobOf(jobId);
        _expectStatus(jobId, job.status, Status.Disputed);
        if (correctResult == bytes32(0)) {
            _refund(jobId, job, RefundReason.NoValidResult, _activeSlots(jobId, job));
            return;
        }
        _slotHashes[uint32(jobId)][RESOLVED_SLOT] = correctResult;
        _settleOne(jobId, job, correctResult);
    }

    // ================================================================ views

    /// @inheritdoc IJobEscrow
    function getJob(uint256) external view returns (JobView memory job) {
        // Runs JobEscrowViews.getJob on this contract's storage and returns (or reverts) with its data. The
        // delegatecall only reads: a view cannot express that, hence the cast of a non-view function to a view one.
        function() internal forward = _forwardToViews;
        function() internal view asView;
        assembly ("memory-safe") {
            asView := forward
        }
        asView(); // returns or reverts the views' data itself: `job` is never filled here
        job;
    }

    /// @inheritdoc IJobEscrow
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IJobEscrow
    function recordCount() external view returns (uint256) {
        return _hot.records;
    }

    /// @inheritdoc IJobEscrow
    function nextJobId() external view returns (uint256) {
        uint256 index = _hot.freeHead;
        if (index == 0) return uint256(_hot.records) + 1;
        return (_generations[index] + 1) << 32 | index;
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

    /// @notice A fault can be slashed until: the latest deadline, then the challenge window, then a dispute.
    function longestSlashableWindow() public view returns (uint256) {
        Params storage p = _params;
        return uint256(p.maxJobDuration) + p.challengeWindow + p.disputeWindow;
    }

    // ================================================================ lifecycle internals

    struct Terms {
        uint24 index;
        uint72 price;
        uint8 k;
        uint8 modeBit; // ALLOWANCE_BIT and/or DECLINABLE_BIT
        uint96 collateral;
        bytes32 inputHash;
    }

    /// @dev Submission by the caller, paid by transfer.
    function _submitPaid(SubmitParams calldata p) private returns (uint256 jobId) {
        uint256 fee;
        (jobId, fee) = _submit(msg.sender, p, 0);
        _pull(msg.sender, fee);
    }

    function _submit(address requester, SubmitParams calldata p, uint8 modeBit)
        private
        returns (uint256 jobId, uint256 fee)
    {
        Terms memory t = _terms(p);
        t.modeBit |= modeBit;
        fee = uint256(t.price) * t.k;
        jobId = _allocate();
        _assign(jobId, requester, p.deadline, t);
        emit JobSubmitted(
            jobId, requester, p.modelId, t.k, fee, p.deadline, _modeOf(modeBit), t.inputHash, p.input, p.inputURI
        );
    }

    /// @dev Every check of a submission, before anything moves.
    function _terms(SubmitParams calldata p) private view returns (Terms memory t) {
        (uint24 index, uint80 price, uint8 defaultK, bool active) = registry.jobTerms(p.modelId);
        Hot storage hot = _hot;
        uint256 minPrice = hot.minPrice;
        t.collateral = hot.collateral;
        require(active, JobEscrowModelInactive(p.modelId));
        t.index = index;
        t.k = p.redundancy == 0 ? defaultK : p.redundancy;
        require(t.k <= MAX_REDUNDANCY, JobEscrowInvalidRedundancy(t.k, MAX_REDUNDANCY));
        require(price >= minPrice, JobEscrowPriceBelowMinimum(p.modelId, price, uint80(minPrice)));
        require(price <= MAX_PRICE, JobEscrowPriceAboveMaximum(p.modelId, price, uint80(MAX_PRICE)));
        t.price = uint72(price);
        uint256 fee = uint256(price) * t.k;
        require(fee <= p.maxFee, JobEscrowFeeAboveMax(fee, p.maxFee));
        Params storage params_ = _params;
        (t.inputHash, t.modeBit) = _checkInput(p, params_.maxInputBytes);
        uint256 earliest = block.timestamp + params_.commitWindow + (t.k > 1 ? params_.revealWindow : 0);
        require(p.deadline >= earliest, JobEscrowDeadlineTooSoon(p.deadline, earliest));
        uint256 latest = block.timestamp + params_.maxJobDuration;
        require(p.deadline <= latest, JobEscrowDeadlineTooLate(p.deadline, latest));
    }

    /// @dev Draws the operators, locks their collateral and stores the job.
    function _assign(uint256 jobId, address requester, uint32 deadline, Terms memory t) private {
        address[] memory ops =
            staking.assign(t.index, t.k, Randomness.draw(bytes32(jobId)), t.collateral, new address[](0));
        uint32 phaseEnd = uint32(block.timestamp + _params.commitWindow); // <= deadline, itself a uint32
        _jobs[uint32(jobId)] = Job({
            operator0: ops[0],
            phaseEnd: phaseEnd,
            deadline: deadline,
            status: Status.Assigned,
            kMode: t.k | t.modeBit,
            commitMask: 0,
            revealMask: 0,
            requester: requester,
            modelIndex: t.index,
            price: t.price
        });
        uint8[] memory slots = new uint8[](t.k);
        for (uint256 i = 1; i < t.k; ++i) {
            _extraOperators[uint32(jobId)][i] = ops[i];
            slots[i] = uint8(i);
        }
        emit OperatorsAssigned(jobId, slots, ops, phaseEnd);
    }

    /// @dev The input's hash, and DECLINABLE_BIT for an input by reference or an inline private envelope.
    function _checkInput(SubmitParams calldata p, uint256 maxInputBytes) private pure returns (bytes32, uint8) {
        uint256 inlineSize = p.input.length;
        bool byReference = bytes(p.inputURI).length != 0;
        if (inlineSize != 0) {
            require(!byReference, JobEscrowAmbiguousInput());
            require(inlineSize <= maxInputBytes, JobEscrowInputTooLarge(inlineSize, maxInputBytes));
            return (sha256(p.input), bytes4(p.input) == ENVELOPE_MAGIC ? DECLINABLE_BIT : 0);
        }
        require(byReference, JobEscrowEmptyInput());
        require(bytes(p.inputURI).length <= 2048, JobEscrowInputTooLarge(bytes(p.inputURI).length, 2048));
        require(p.inputHash != bytes32(0), JobEscrowMissingInputHash());
        return (p.inputHash, DECLINABLE_BIT);
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
    function _evaluate(uint256 jobId, Job storage job, uint256 revealed) private {
        bytes32 first;
        uint256 k = _k(job);
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) == 0) continue;
            bytes32 h = _slotHashes[uint32(jobId)][i];
            if (first == bytes32(0)) first = h;
            else if (h != first) return _dispute(jobId, job, DisputeReason.Disagreement);
        }
        _propose(jobId, job, first);
    }

    function _handleMissedCommit(uint256 jobId, Job storage job) private {
        uint256 k = _k(job);
        uint256 committed = job.commitMask; // always 0 at k = 1
        uint256 declined = job.revealMask;
        job.revealMask = 0;
        Params storage p = _params;
        address[] memory current = new address[](k);
        uint256 missing;
        for (uint256 i; i < k; ++i) {
            current[i] = _operatorAt(jobId, job, i);
            if (committed & (1 << i) == 0) ++missing;
        }
        // Penalise every slot that did not take up its job.
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) != 0) continue;
            // A slot that declined is released without penalty (see `decline`).
            uint256 penalty = declined & (1 << i) == 0 ? p.missPenalty : 0;
            uint256 slashed = staking.slash(current[i], p.collateral, penalty, _missRecipient(p));
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
                    else _extraOperators[uint32(jobId)][i] = fresh[n];
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
        Batch memory b = _newBatch(1);
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) != 0) _queueRelease(b, current[i]);
        }
        _refund(jobId, job, RefundReason.DeadlinePassed, b);
    }

    function _handleMissedReveal(uint256 jobId, Job storage job) private {
        uint256 revealed = job.revealMask;
        uint256 k = _k(job);
        Params storage p = _params;
        uint256 missed;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) != 0) continue;
            address op = _operatorAt(jobId, job, i);
            missed |= 1 << i;
            uint256 slashed = staking.slash(op, p.collateral, p.missPenalty, _missRecipient(p));
            emit SlotMissed(jobId, uint8(i), op, Status.Revealing, slashed);
        }
        _missed[jobId] = missed;
        if (revealed == 0) {
            _refund(jobId, job, RefundReason.NoReveals, _newBatch(1));
            return;
        }
        _evaluate(jobId, job, revealed);
    }

    /// @dev Pays the caller's stored earnings plus `amount` (credited in memory by a claim) to `to`.
    function _payEarnings(address to, uint256 amount) private returns (uint256) {
        uint256 stored = _earnings[msg.sender];
        if (stored != 0) {
            _earnings[msg.sender] = 0;
            amount += stored;
        }
        if (amount != 0) {
            emit EarningsWithdrawn(msg.sender, to, amount);
            feeToken.safeTransfer(to, amount);
        }
        return amount;
    }

    /// @dev Settles ready jobs into one batch, then writes it (the claimer's credits are returned, not stored).
    function _finalizeMany(uint256[] calldata jobIds, address claimer)
        private
        returns (uint256 settled, uint256 claimed)
    {
        Batch memory b = _newBatch(jobIds.length);
        for (uint256 i; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            if (jobId >> 32 != _generations[uint32(jobId)]) continue; // recycled: settled long ago
            Job storage job = _jobs[uint32(jobId)];
            if (job.status != Status.Proposed || block.timestamp <= job.phaseEnd) continue;
            _settle(b, jobId, job, _proposedResult(jobId, job));
            ++settled;
        }
        claimed = _flush(b, claimer);
    }

    function _settleOne(uint256 jobId, Job storage job, bytes32 result) private {
        Batch memory b = _newBatch(1);
        _settle(b, jobId, job, result);
        _flush(b, address(0));
    }

    /// @dev A record for a new job: the free list's head (its generation bumped), else a new one. Returns the id.
    function _allocate() private returns (uint256 jobId) {
        Hot storage hot = _hot;
        uint256 index = hot.freeHead;
        if (index == 0) {
            index = uint256(hot.records) + 1;
            hot.records = index.toUint32(); // 2^32 - 1 jobs open at once is out of reach
            return index;
        }
        hot.freeHead = _jobs[index].phaseEnd; // the next free record (the slot is rewritten by _assign anyway)
        uint256 generation = _generations[index] + 1;
        _generations[index] = generation;
        return generation << 32 | index;
    }

    /// @dev Ends a job. Its record joins the free list unless the job was disputed: the DisputeManager reads a
    /// disputed job after the escrow settled it, so that record is kept.
    function _close(uint256 jobId, Job storage job, Status terminal) private {
        if (job.status != Status.Disputed) {
            Hot storage hot = _hot;
            job.phaseEnd = hot.freeHead;
            hot.freeHead = uint32(jobId);
        }
        job.status = terminal;
    }

    function _forwardToViews() private {
        address views = _views;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), views, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    function _newBatch(uint256 jobs) private view returns (Batch memory b) {
        uint256 slots = jobs * MAX_REDUNDANCY;
        b.accounts = new address[](slots + jobs); // operators and model owners
        b.credits = new uint256[](slots + jobs);
        b.operators = new address[](slots);
        b.releases = new uint256[](slots);
        b.collateral = _hot.collateral;
    }

    /// @dev Pays every operator whose result equals `result`; the shares of the others go back to the payer.
    /// Releases (in the batch) the collateral of every slot not already released by a miss penalty.
    function _settle(Batch memory b, uint256 jobId, Job storage job, bytes32 result) private {
        (address[] memory paid, uint256 paidCount) = _releaseAndCollect(b, jobId, job, result);
        _close(jobId, job, Status.Finalized);
        _distribute(b, jobId, job, result, paid, paidCount);
    }

    function _releaseAndCollect(Batch memory b, uint256 jobId, Job storage job, bytes32 result)
        private
        view
        returns (address[] memory paid, uint256 paidCount)
    {
        uint256 k = _k(job);
        // k = 1 reaches settlement only with its result posted. k > 1 only after the reveal phase, where every
        // slot that did not reveal was missed.
        uint256 revealed = k == 1 ? 1 : job.revealMask;
        uint256 missed = revealed == (1 << k) - 1 ? 0 : _missed[jobId];
        paid = new address[](k);
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) != 0) continue; // already released by its penalty
            address op = _operatorAt(jobId, job, i);
            if (revealed & (1 << i) != 0 && _slotHashes[uint32(jobId)][i] == result) paid[paidCount++] = op;
            _queueRelease(b, op);
        }
    }

    function _distribute(
        Batch memory b,
        uint256 jobId,
        Job storage job,
        bytes32 result,
        address[] memory paid,
        uint256 paidCount
    ) private {
        uint256 price = job.price;
        uint256 fee = price * paidCount;
        uint256 refund = price * (_k(job) - paidCount);
        (address owner, uint256 royaltyBps) = _payeeOf(b, job.modelIndex);
        FeeMath.Split memory s =
            FeeMath.split(fee, paidCount, royaltyBps, _params.treasuryBps, _params.stakersBps);
        for (uint256 i; i < paidCount; ++i) {
            _credit(b, paid[i], s.perOperator);
        }
        if (s.royalty != 0) _credit(b, owner, s.royalty);
        b.treasury += s.treasury;
        b.stakers += s.stakers;
        if (refund != 0) _deposits[_payer(job)] += refund;
        emit JobFinalized(jobId, result, uint8(paidCount), fee, refund, s.royalty, s.treasury, s.stakers, s.perOperator);
    }

    /// @dev Writes a batch: each account's earnings once, both accruals once, one collateral release call.
    /// Credits of `claimer` (when non-zero) are summed and returned instead of stored.
    function _flush(Batch memory b, address claimer) private returns (uint256 claimed) {
        for (uint256 i; i < b.nCredits; ++i) {
            address account = b.accounts[i];
            if (account == claimer) claimed += b.credits[i];
            else _earnings[account] += b.credits[i];
        }
        if (b.treasury != 0 || b.stakers != 0) {
            // Both accumulators share one slot; each total is bounded by the fee token's supply.
            _treasuryAccrued += b.treasury.toUint128();
            _stakerAccrued += b.stakers.toUint128();
        }
        uint256 n = b.nReleases;
        if (n == 0) return claimed;
        address[] memory operators = b.operators;
        uint256[] memory releases = b.releases;
        assembly ("memory-safe") {
            mstore(operators, n) // shrink to the entries in use
            mstore(releases, n)
        }
        staking.releaseMany(operators, releases);
    }

    /// @dev Queues the release of one slot's collateral.
    function _queueRelease(Batch memory b, address op) private pure {
        b.nReleases = _add(b.operators, b.releases, b.nReleases, op, b.collateral);
    }

    function _credit(Batch memory b, address account, uint256 amount) private pure {
        b.nCredits = _add(b.accounts, b.credits, b.nCredits, account, amount);
    }

    /// @dev Adds `amount` to `account`'s entry (appending one if absent); returns the new entry count.
    function _add(address[] memory accounts, uint256[] memory amounts, uint256 n, address account, uint256 amount)
        private
        pure
        returns (uint256)
    {
        for (uint256 i; i < n; ++i) {
            if (accounts[i] == account) {
                amounts[i] += amount;
                return n;
            }
        }
        accounts[n] = account;
        amounts[n] = amount;
        return n + 1;
    }

    /// @dev The model's owner and royalty (capped by governance), read from the registry once per run of jobs
    /// of the same model in a batch (model indexes start at 1).
    function _payeeOf(Batch memory b, uint256 modelIndex) private view returns (address, uint256) {
        if (b.model != modelIndex) {
            (address owner, uint256 royaltyBps) = registry.payee(modelIndex);
            uint256 cap = _params.maxRoyaltyBps;
            b.model = modelIndex;
            b.owner = owner;
            b.royaltyBps = royaltyBps > cap ? cap : royaltyBps;
        }
        return (b.owner, b.royaltyBps);
    }

    /// @dev `b` holds the collateral to release (slots still locked).
    function _refund(uint256 jobId, Job storage job, RefundReason reason, Batch memory b) private {
        _close(jobId, job, Status.Refunded);
        uint256 amount = uint256(job.price) * _k(job);
        address payer = _payer(job);
        _deposits[payer] += amount;
        emit JobRefunded(jobId, payer, amount, reason);
        _flush(b, address(0));
    }

    /// @dev Operators of every slot whose collateral is still locked (all but the missed ones).
    function _activeSlots(uint256 jobId, Job storage job) private view returns (Batch memory b) {
        b = _newBatch(1);
        uint256 missed = _missed[jobId];
        uint256 k = _k(job);
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) == 0) _queueRelease(b, _operatorAt(jobId, job, i));
        }
    }

    function _modeOf(uint8 modeBit) private pure returns (PayMode) {
        return modeBit == 0 ? PayMode.Deposit : PayMode.Allowance;
    }

    function _payer(Job storage job) private view returns (address) {
        if (job.kMode & ALLOWANCE_BIT != 0) {
            address pool = _creditsPool;
            require(pool != address(0), JobEscrowNoCreditsPool());
            return pool;
        }
        return job.requester;
    }

    function _missRecipient(Params storage p) private view returns (address) {
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

    /// @dev An operator's post: the caller holds the slot, its phase is open, the hash is set.
    function _checkPost(uint256 jobId, address holder, uint8 slot, uint32 phaseEnd, bytes32 hash) private view {
        require(holder == msg.sender, JobEscrowNotAssigned(jobId, slot, msg.sender));
        _checkOpen(jobId, phaseEnd);
        require(hash != bytes32(0), JobEscrowZeroHash());
    }

    function _checkOpen(uint256 jobId, uint32 phaseEnd) private view {
        require(block.timestamp <= phaseEnd, JobEscrowWindowClosed(jobId, phaseEnd, block.timestamp));
    }

    function _checkClosed(uint256 jobId, uint32 phaseEnd) private view {
        require(block.timestamp > phaseEnd, JobEscrowWindowOpen(jobId, phaseEnd, block.timestamp));
    }

    function _expectStatus(uint256 jobId, Status status, Status expected) private pure {
        if (status == expected) return;
        if (status == Status.None) revert JobEscrowUnknownJob(jobId);
        revert JobEscrowWrongStatus(jobId, status);
    }

    // ================================================================ pause bitmap (in the hot slot)

    function _pausedBits() internal view override returns (uint256) {
        return _hot.paused;
    }

    function _storePausedBits(uint256 bits) internal override {
        _hot.paused = bits.toUint8(); // JobEscrow's actions are 0 and 1
    }

    // ================================================================ payments

    function _debitDeposit(uint256 amount) private {
        uint256 balance = _deposits[msg.sender];
        require(balance >= amount, JobEscrowInsufficientDeposit(msg.sender, balance, amount));
        unchecked {
            _deposits[msg.sender] = balance - amount; // checked just above
        }
    }

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
        _bound("minPrice", p.minPrice, 1, MAX_PRICE);
        _bound("collateral", p.collateral, 1, staking.minStake());
        _bound("missPenalty", p.missPenalty, 0, p.collateral);
        _bound("treasury", uint160(p.treasury), 1, type(uint160).max);
        uint256 longest = uint256(p.maxJobDuration) + p.challengeWindow + p.disputeWindow;
        uint256 unbonding = staking.unbondingPeriod();
        _bound("longestSlashableWindow", longest, 0, unbonding == 0 ? 0 : unbonding - 1);
        _params = p;
        Hot storage hot = _hot;
        hot.minPrice = uint72(p.minPrice); // bounded above
        hot.collateral = p.collateral;
        emit ParamsSet(p);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, JobEscrowParameterOutOfBounds(name, value, min, max));
    }
}
