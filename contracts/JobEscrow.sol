// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IFeeLedger} from "./interfaces/IFeeLedger.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {JobLib} from "./libraries/JobLib.sol";
import {Randomness} from "./libraries/Randomness.sol";
import {PausableActions} from "./libraries/PausableActions.sol";
import {JobId, JobIdLib} from "./types/JobId.sol";
import {FeeLedger} from "./FeeLedger.sol";
import {JobEscrowStorage} from "./JobEscrowStorage.sol";
import {JobEscrowViews} from "./JobEscrowViews.sol";

/// @title JobEscrow
/// @notice The lifecycle core of inference jobs; see IJobEscrow for the documentation of each function.
/// @dev Three contracts, split along the seams of the job market:
/// - this core: submission checks, draws and collateral (NodeStaking), the state machine (JobLib over the Job
///   record), settlement arithmetic under each job's frozen terms;
/// - FeeLedger, deployed here: every balance, and the payer modules governance allowlists;
/// - JobEscrowViews, deployed here: every read-only function, reached through this contract's fallback by
///   delegatecall on this contract's storage (EigenLayer's split-contract pattern), so callers use one address.
/// Storage is laid out for gas (snapshots/gas.md): a job record is two slots plus a one-slot header (generation,
/// tag, terms, payer, masks), one hash slot per operator and, at k > 1, one slot per extra operator; records are
/// recycled. Settlement sums credits per account in memory and writes each once per batch (finalizeMany, claim).
/// Multicall lets an operator post for many jobs in one transaction; it is safe here because no function is
/// payable and every nonReentrant function sets and clears the transient guard within its own delegatecall.
contract JobEscrow is JobEscrowStorage, IJobEscrow, AccessManaged, PausableActions, ReentrancyGuardTransient, Multicall {
    using SafeCast for uint256;
    using JobLib for Job;

    uint8 private constant ACTION_SUBMIT = 0;
    address private constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    /// @dev First four bytes ("VEIL") of a private job's inline input envelope (docs/privacy.md).
    bytes4 private constant ENVELOPE_MAGIC = 0x5645494c;
    /// @dev Largest per-slot price a job can store (72 bits); see JobEscrowPriceAboveMaximum.
    uint256 private constant MAX_PRICE = type(uint72).max;

    /// @dev Settlement of one or more jobs, summed in memory and written once (see _flush).
    struct Batch {
        address[] payees; // earnings credits, one entry per account
        uint256[] earnings;
        uint256 nPayees;
        address[] payers; // refunds, one entry per payer
        uint256[] refunds;
        uint256 nPayers;
        address[] operators; // collateral to release, one entry per operator
        uint256[] releases;
        uint256 nReleases;
        uint256 treasury;
        uint256 stakers;
        uint256 model; // payee of the last model settled: index (0 = none) and owner
        address owner;
        uint256 terms; // terms version last read (0 = none) and what settlement needs of it
        uint256 collateral;
        uint256 treasuryBps;
        uint256 stakersBps;
    }

    IERC20 private immutable feeToken;
    IModelRegistry private immutable registry;
    INodeStaking private immutable staking;
    /// @inheritdoc IJobEscrow
    IFeeLedger public immutable ledger;

    /// @dev Read-only extension: every view of the escrow (delegatecalled from `fallback`).
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
        _views = address(new JobEscrowViews(feeToken_, registry_, staking_));
        ledger = new FeeLedger(authority, feeToken_, staking_, address(this));
        _setParams(params_);
    }

    /// @notice Serves every read-only function of IJobEscrowViews: runs JobEscrowViews on this storage.
    fallback() external {
        address views = _views;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), views, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ================================================================ governance

    /// @inheritdoc IJobEscrow
    function setParams(Params calldata params_) external restricted {
        _setParams(params_);
    }

    /// @inheritdoc IJobEscrow
    function setPaused(uint8 action, bool paused) external restricted {
        _setPaused(action, paused);
    }

    // ================================================================ requesters

    /// @inheritdoc IJobEscrow
    function submitJob(SubmitParams calldata p) external nonReentrant whenActive(ACTION_SUBMIT) returns (JobId id) {
        uint256 fee;
        (id, fee) = _submit(msg.sender, p, 0);
        ledger.collect(msg.sender, fee, false);
    }

    /// @inheritdoc IJobEscrow
    function permitFeeToken(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external {
        // A front-run permit only spends the nonce; the allowance it set is used all the same.
        try IERC20Permit(address(feeToken)).permit(msg.sender, address(ledger), value, deadline, v, r, s) {} catch {}
    }

    /// @inheritdoc IJobEscrow
    function submitJobFromDeposit(SubmitParams calldata p)
        external
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (JobId id)
    {
        uint256 fee;
        (id, fee) = _submit(msg.sender, p, 0);
        ledger.collect(msg.sender, fee, true);
    }

    /// @inheritdoc IJobEscrow
    function submitJobFor(address requester, SubmitParams calldata p)
        external
        nonReentrant
        whenActive(ACTION_SUBMIT)
        returns (JobId id)
    {
        IFeeLedger ledger_ = ledger;
        uint8 module = ledger_.payerModuleId(msg.sender); // 0 when unknown: collectFromModule reverts then
        uint256 fee;
        (id, fee) = _submit(requester, p, module);
        ledger_.collectFromModule(msg.sender, fee);
    }

    // ================================================================ operators

    /// @inheritdoc IJobEscrow
    function commit(JobId id, uint8 slot, bytes32 commitment) external {
        (Job storage job, Header storage header) = _jobOf(id);
        address holder = _operatorAt(id, job, slot);
        if (job.commit(id, slot, holder, header.declinedMask, _slotHashes[id.index()], commitment)) {
            job.startReveal(id, _terms[header.terms].revealWindow);
        }
    }

    /// @inheritdoc IJobEscrow
    function reveal(JobId id, uint8 slot, bytes32 resultHash, bytes32 salt) external {
        (Job storage job, Header storage header) = _jobOf(id);
        mapping(uint256 => bytes32) storage hashes = _slotHashes[id.index()];
        bytes32 commitment = keccak256(abi.encode(address(this), block.chainid, id, msg.sender, resultHash, salt));
        if (job.reveal(id, slot, _operatorAt(id, job, slot), hashes, resultHash, commitment)) {
            Params storage t = _terms[header.terms];
            job.evaluate(id, hashes, t.challengeWindow, t.disputeWindow);
        }
    }

    /// @inheritdoc IJobEscrow
    function submitResult(JobId id, bytes32 resultHash) external {
        (Job storage job, Header storage header) = _jobOf(id);
        job.post(id, _slotHashes[id.index()], resultHash);
        job.propose(id, resultHash, _terms[header.terms].challengeWindow);
    }

    /// @inheritdoc IJobEscrow
    function decline(JobId id, uint8 slot) external {
        (Job storage job, Header storage header) = _jobOf(id);
        job.expectStatus(id, Status.Assigned);
        require(header.declinable, JobEscrowNotDeclinable(id));
        JobLib.checkPost(id, _operatorAt(id, job, slot), slot, job.phaseEnd, bytes32(uint256(1))); // no hash here
        uint256 bit = 1 << slot;
        uint256 done = job.commitMask | header.declinedMask;
        require(done & bit == 0, JobEscrowAlreadyCommitted(id, slot));
        header.declinedMask |= uint8(bit);
        emit SlotDeclined(id, slot, msg.sender);
        // Every slot committed or declined: nobody has anything left to post, so the slots can be replaced now.
        if ((done | bit) == (1 << job.k) - 1) job.phaseEnd = uint32(block.timestamp - 1);
    }

    // ================================================================ anyone

    /// @inheritdoc IJobEscrow
    function finalize(JobId id) external nonReentrant {
        (Job storage job, Header storage header) = _jobOf(id);
        job.expectStatus(id, Status.Proposed);
        JobLib.checkClosed(id, job.phaseEnd);
        Batch memory b = _newBatch(1);
        _settle(b, id, job, header, _proposedResult(id, job));
        _flush(b, address(0), address(0));
    }

    /// @inheritdoc IJobEscrow
    function finalizeMany(JobId[] calldata ids) external nonReentrant returns (uint256 settled) {
        (settled,) = _finalizeMany(ids, address(0), address(0));
    }

    /// @inheritdoc IJobEscrow
    function claim(JobId[] calldata ids, address to) external nonReentrant returns (uint256 settled, uint256 amount) {
        (settled, amount) = _finalizeMany(ids, msg.sender, to);
    }

    /// @inheritdoc IJobEscrow
    function poke(JobId id) external nonReentrant {
        (Job storage job, Header storage header) = _jobOf(id);
        Status status = job.status;
        if (status == Status.None) revert JobEscrowUnknownJob(id);
        if (JobLib.isSettled(status)) revert JobEscrowWrongStatus(id, status);
        JobLib.checkClosed(id, job.phaseEnd);
        if (status == Status.Assigned) {
            _handleMissedCommit(id, job, header);
        } else if (status == Status.Revealing) {
            _handleMissedReveal(id, job, header);
        } else if (status == Status.Proposed) {
            Batch memory b = _newBatch(1);
            _settle(b, id, job, header, _proposedResult(id, job));
            _flush(b, address(0), address(0));
        } else {
            _refund(id, job, header, RefundReason.DisputeUnresolved, _activeSlots(id, job, header));
        }
    }

    // ================================================================ disputes

    /// @inheritdoc IJobEscrow
    function openDispute(JobId id) external restricted {
        (Job storage job, Header storage header) = _jobOf(id);
        job.expectStatus(id, Status.Proposed);
        JobLib.checkOpen(id, job.phaseEnd);
        job.dispute(id, DisputeReason.Challenge, _terms[header.terms].disputeWindow);
    }

    /// @inheritdoc IJobEscrow
    function resolveDispute(JobId id, bytes32 correctResult) external restricted nonReentrant {
        (Job storage job, Header storage header) = _jobOf(id);
        job.expectStatus(id, Status.Disputed);
        if (correctResult == bytes32(0)) {
            _refund(id, job, header, RefundReason.NoValidResult, _activeSlots(id, job, header));
            return;
        }
        _slotHashes[id.index()][RESOLVED_SLOT] = correctResult;
        Batch memory b = _newBatch(1);
        _settle(b, id, job, header, correctResult);
        _flush(b, address(0), address(0));
    }

    // ================================================================ submission

    /// @dev What a submission fixes, from its checks.
    struct Submission {
        uint256 modelIndex;
        uint256 price;
        uint256 k;
        uint256 royaltyBps; // capped by the terms
        bytes32 inputHash;
        bool declinable;
        uint256 commitEnd;
    }

    /// @dev Every check of a submission, then the record, the draw and the events. Returns the id and the fee.
    function _submit(address requester, SubmitParams calldata p, uint8 payerModule)
        private
        returns (JobId id, uint256 fee)
    {
        Hot memory hot = _hot;
        Submission memory sub = _check(p, hot);
        fee = sub.price * sub.k;
        (uint256 index, uint256 generation) = _allocate(hot);
        uint64 tag = JobIdLib.tagOf(p.modelId, sub.inputHash);
        id = JobIdLib.make(index, generation, tag);
        _headers[index] = Header({
            generation: generation.toUint32(),
            tag: tag,
            terms: hot.terms,
            royaltyBps: uint16(sub.royaltyBps),
            payerModule: payerModule,
            declinable: sub.declinable,
            declinedMask: 0,
            missedMask: 0,
            nextFree: 0
        });
        address[] memory ops =
            staking.assign(sub.modelIndex, sub.k, Randomness.draw(id.seed()), hot.collateral, new address[](0));
        _jobs[index] = Job({
            operator0: ops[0],
            phaseEnd: uint32(sub.commitEnd), // <= deadline, itself a uint32
            deadline: p.deadline,
            status: Status.Assigned,
            k: uint8(sub.k),
            commitMask: 0,
            revealMask: 0,
            requester: requester,
            modelIndex: uint24(sub.modelIndex),
            price: uint72(sub.price)
        });
        uint8[] memory slots = new uint8[](sub.k);
        for (uint256 i = 1; i < sub.k; ++i) {
            _extraOperators[index][i] = ops[i];
            slots[i] = uint8(i);
        }
        _emitSubmitted(id, requester, p, sub, payerModule);
        emit OperatorsAssigned(id, slots, ops, uint32(sub.commitEnd));
    }

    function _emitSubmitted(JobId id, address requester, SubmitParams calldata p, Submission memory sub, uint8 payer)
        private
    {
        emit JobSubmitted(
            id, requester, p.modelId, uint8(sub.k), sub.price * sub.k, p.deadline, payer, sub.inputHash, p.input, p.inputURI
        );
    }

    /// @dev A record for a new job: the free list's head (its next generation), else a new one.
    function _allocate(Hot memory hot) private returns (uint256 index, uint256 generation) {
        index = hot.freeHead;
        if (index == 0) {
            index = uint256(hot.records) + 1;
            _hot.records = index.toUint32(); // 2^32 - 1 jobs open at once is out of reach
        } else {
            Header storage old = _headers[index];
            generation = uint256(old.generation) + 1;
            _hot.freeHead = old.nextFree;
        }
    }

    /// @dev Every check of a submission, before anything moves, under the current terms (`hot.terms`).
    function _check(SubmitParams calldata p, Hot memory hot) private view returns (Submission memory sub) {
        Params storage terms = _terms[hot.terms];
        (uint24 modelIndex, uint80 price, uint8 defaultK, bool active, uint16 royaltyBps) =
            registry.jobTerms(p.modelId);
        require(active, JobEscrowModelInactive(p.modelId));
        uint256 k = p.redundancy == 0 ? defaultK : p.redundancy;
        require(k <= MAX_REDUNDANCY, JobEscrowInvalidRedundancy(uint8(k), MAX_REDUNDANCY));
        require(price >= hot.minPrice, JobEscrowPriceBelowMinimum(p.modelId, price, hot.minPrice));
        require(price <= MAX_PRICE, JobEscrowPriceAboveMaximum(p.modelId, price, uint80(MAX_PRICE)));
        uint256 fee = uint256(price) * k;
        require(fee <= p.maxFee, JobEscrowFeeAboveMax(fee, p.maxFee));
        (sub.inputHash, sub.declinable) = _checkInput(p, terms.maxInputBytes);
        sub.commitEnd = block.timestamp + terms.commitWindow;
        uint256 earliest = sub.commitEnd + (k > 1 ? terms.revealWindow : 0);
        require(p.deadline >= earliest, JobEscrowDeadlineTooSoon(p.deadline, earliest));
        uint256 latest = block.timestamp + terms.maxJobDuration;
        require(p.deadline <= latest, JobEscrowDeadlineTooLate(p.deadline, latest));
        uint256 cap = terms.maxRoyaltyBps;
        sub.royaltyBps = royaltyBps > cap ? cap : royaltyBps;
        sub.modelIndex = modelIndex;
        sub.price = price;
        sub.k = k;
    }

    /// @dev The input's hash, and whether an operator may decline it (an input by reference or an inline private
    /// envelope: the chain cannot vouch that it can be served).
    function _checkInput(SubmitParams calldata p, uint256 maxInputBytes) private pure returns (bytes32, bool) {
        uint256 inlineSize = p.input.length;
        bool byReference = bytes(p.inputURI).length != 0;
        if (inlineSize != 0) {
            require(!byReference, JobEscrowAmbiguousInput());
            require(inlineSize <= maxInputBytes, JobEscrowInputTooLarge(inlineSize, maxInputBytes));
            return (sha256(p.input), bytes4(p.input) == ENVELOPE_MAGIC);
        }
        require(byReference, JobEscrowEmptyInput());
        require(bytes(p.inputURI).length <= 2048, JobEscrowInputTooLarge(bytes(p.inputURI).length, 2048));
        require(p.inputHash != bytes32(0), JobEscrowMissingInputHash());
        return (p.inputHash, true);
    }

    // ================================================================ missed steps

    function _handleMissedCommit(JobId id, Job storage job, Header storage header) private {
        uint256 k = job.k;
        uint256 committed = job.commitMask; // always 0 at k = 1
        Params storage t = _terms[header.terms];
        address[] memory current = new address[](k);
        for (uint256 i; i < k; ++i) {
            current[i] = _operatorAt(id, job, i);
        }
        _slashMissedCommits(id, current, committed, header.declinedMask, t);
        header.declinedMask = 0;
        // Replace them when the job's deadline still allows a full round, otherwise refund.
        uint256 nextEnd = block.timestamp + t.commitWindow;
        if (nextEnd + (k > 1 ? t.revealWindow : 0) <= job.deadline && _replace(id, job, current, committed, nextEnd, t.collateral)) {
            return;
        }
        // Committed operators are released without pay: the job failed through no fault of theirs, and the payer
        // gets everything back.
        Batch memory b = _newBatch(1);
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) != 0) _queueRelease(b, current[i], t.collateral);
        }
        _refund(id, job, header, RefundReason.DeadlinePassed, b);
    }

    /// @dev Penalises every slot that did not take up its job; a slot that declined is released without penalty.
    function _slashMissedCommits(
        JobId id,
        address[] memory current,
        uint256 committed,
        uint256 declined,
        Params storage t
    ) private {
        address recipient = _missRecipient(t);
        for (uint256 i; i < current.length; ++i) {
            if (committed & (1 << i) != 0) continue;
            uint256 penalty = declined & (1 << i) == 0 ? t.missPenalty : 0;
            uint256 slashed = staking.slash(current[i], t.collateral, penalty, recipient);
            emit SlotMissed(id, uint8(i), current[i], Status.Assigned, slashed);
        }
    }

    /// @dev Draws new operators for the slots that did not commit (excluding the job's current ones); false when
    /// too few eligible operators are left.
    function _replace(
        JobId id,
        Job storage job,
        address[] memory current,
        uint256 committed,
        uint256 nextEnd,
        uint256 collateral
    ) private returns (bool) {
        uint256 k = current.length;
        uint256 missing;
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) == 0) ++missing;
        }
        try staking.assign(job.modelIndex, missing, Randomness.draw(id.seed()), collateral, current)
        returns (address[] memory fresh) {
            _install(id, job, committed, fresh, nextEnd);
            return true;
        } catch {
            return false; // not enough eligible operators left
        }
    }

    /// @dev Puts the freshly drawn operators in the slots that did not commit; their commit phase ends at `end`.
    function _install(JobId id, Job storage job, uint256 committed, address[] memory fresh, uint256 end) private {
        uint8[] memory slots = new uint8[](fresh.length);
        mapping(uint256 => address) storage extra = _extraOperators[id.index()];
        uint256 n;
        for (uint256 i; n < fresh.length; ++i) {
            if (committed & (1 << i) != 0) continue;
            slots[n] = uint8(i);
            if (i == 0) job.operator0 = fresh[n];
            else extra[i] = fresh[n];
            ++n;
        }
        job.phaseEnd = uint32(end);
        emit OperatorsAssigned(id, slots, fresh, uint32(end));
    }

    function _handleMissedReveal(JobId id, Job storage job, Header storage header) private {
        uint256 revealed = job.revealMask;
        uint256 k = job.k;
        Params storage t = _terms[header.terms];
        address recipient = _missRecipient(t);
        uint256 missed;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) != 0) continue;
            address op = _operatorAt(id, job, i);
            missed |= 1 << i;
            uint256 slashed = staking.slash(op, t.collateral, t.missPenalty, recipient);
            emit SlotMissed(id, uint8(i), op, Status.Revealing, slashed);
        }
        header.missedMask = uint8(missed);
        if (revealed == 0) {
            _refund(id, job, header, RefundReason.NoReveals, _newBatch(1));
            return;
        }
        job.evaluate(id, _slotHashes[id.index()], t.challengeWindow, t.disputeWindow);
    }

    /// @dev Where a miss penalty goes, as the job's terms say (the treasury named by the current terms).
    function _missRecipient(Params storage t) private view returns (address) {
        SlashDestination to = t.missSlashTo;
        if (to == SlashDestination.Treasury) return _terms[_hot.terms].treasury;
        if (to == SlashDestination.Caller) return msg.sender;
        return BURN_ADDRESS;
    }

    // ================================================================ settlement

    /// @dev Settles the ready jobs of `ids` into one batch, then writes it.
    function _finalizeMany(JobId[] calldata ids, address claimer, address to)
        private
        returns (uint256 settled, uint256 paid)
    {
        Batch memory b = _newBatch(ids.length);
        for (uint256 i; i < ids.length; ++i) {
            JobId id = ids[i];
            Header storage header = _headers[id.index()];
            if (id.generation() != header.generation || id.tag() != header.tag || id.hasHighBits()) continue;
            Job storage job = _jobs[id.index()];
            if (job.status != Status.Proposed || block.timestamp <= job.phaseEnd) continue;
            _settle(b, id, job, header, _proposedResult(id, job));
            ++settled;
        }
        paid = _flush(b, claimer, to);
    }

    /// @dev Pays every operator whose result equals `result` under the job's terms; the shares of the others go
    /// back to the payer. Releases (in the batch) the collateral of every slot not already released by a miss.
    function _settle(Batch memory b, JobId id, Job storage job, Header storage header, bytes32 result) private {
        _loadTerms(b, header.terms);
        (address[] memory paid, uint256 paidCount) = _releaseAndCollect(b, id, job, header.missedMask, result);
        _close(id, job, header, Status.Finalized);
        _distribute(b, id, job, header, result, paid, paidCount);
    }

    /// @dev k = 1 reaches settlement only with its result posted; k > 1 only after the reveal phase, where every
    /// slot that did not reveal was missed (and released by its penalty).
    function _releaseAndCollect(Batch memory b, JobId id, Job storage job, uint256 missed, bytes32 result)
        private
        view
        returns (address[] memory paid, uint256 paidCount)
    {
        uint256 k = job.k;
        uint256 revealed = job.revealMask;
        paid = new address[](k);
        mapping(uint256 => bytes32) storage hashes = _slotHashes[id.index()];
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) != 0) continue;
            address op = _operatorAt(id, job, i);
            if (revealed & (1 << i) != 0 && hashes[i] == result) paid[paidCount++] = op;
            _queueRelease(b, op, b.collateral);
        }
    }

    function _distribute(
        Batch memory b,
        JobId id,
        Job storage job,
        Header storage header,
        bytes32 result,
        address[] memory paid,
        uint256 paidCount
    ) private {
        uint256 price = job.price;
        uint256 fee = price * paidCount;
        uint256 refund = price * (job.k - paidCount);
        FeeMath.Split memory s = FeeMath.split(fee, paidCount, header.royaltyBps, b.treasuryBps, b.stakersBps);
        for (uint256 i; i < paidCount; ++i) {
            b.nPayees = _add(b.payees, b.earnings, b.nPayees, paid[i], s.perOperator);
        }
        if (s.royalty != 0) b.nPayees = _add(b.payees, b.earnings, b.nPayees, _ownerOf(b, job.modelIndex), s.royalty);
        b.treasury += s.treasury;
        b.stakers += s.stakers;
        if (refund != 0) b.nPayers = _add(b.payers, b.refunds, b.nPayers, _payerOf(job, header), refund);
        emit JobFinalized(id, result, uint8(paidCount), fee, refund, s.royalty, s.treasury, s.stakers, s.perOperator);
    }

    /// @dev Refunds the job's whole fee to its payer; `b` holds the collateral to release (slots still locked).
    function _refund(JobId id, Job storage job, Header storage header, RefundReason reason, Batch memory b) private {
        _close(id, job, header, Status.Refunded);
        uint256 amount = uint256(job.price) * job.k;
        address payer = _payerOf(job, header);
        b.nPayers = _add(b.payers, b.refunds, b.nPayers, payer, amount);
        emit JobRefunded(id, payer, amount, reason);
        _flush(b, address(0), address(0));
    }

    /// @dev Ends a job. Its record joins the free list unless the job was disputed: the DisputeManager reads a
    /// disputed job after the escrow settled it, so that record is kept.
    function _close(JobId id, Job storage job, Header storage header, Status terminal) private {
        if (job.status != Status.Disputed) {
            Hot storage hot = _hot;
            header.nextFree = hot.freeHead;
            hot.freeHead = uint32(id.index());
        }
        job.status = terminal;
        job.phaseEnd = 0;
    }

    /// @dev Writes a batch: one ledger call (each account once, both accruals), one collateral release call.
    function _flush(Batch memory b, address claimer, address to) private returns (uint256 paid) {
        address[] memory payees = b.payees;
        uint256[] memory earnings = b.earnings;
        address[] memory payers = b.payers;
        uint256[] memory refunds = b.refunds;
        (uint256 nPayees, uint256 nPayers) = (b.nPayees, b.nPayers);
        assembly ("memory-safe") {
            mstore(payees, nPayees) // shrink to the entries in use
            mstore(earnings, nPayees)
            mstore(payers, nPayers)
            mstore(refunds, nPayers)
        }
        if (nPayees != 0 || nPayers != 0 || b.treasury != 0 || b.stakers != 0 || claimer != address(0)) {
            paid = ledger.settle(IFeeLedger.Settlement(payees, earnings, payers, refunds, b.treasury, b.stakers), claimer, to);
        }
        uint256 n = b.nReleases;
        if (n == 0) return paid;
        address[] memory operators = b.operators;
        uint256[] memory releases = b.releases;
        assembly ("memory-safe") {
            mstore(operators, n)
            mstore(releases, n)
        }
        staking.releaseMany(operators, releases);
    }

    function _newBatch(uint256 jobs) private pure returns (Batch memory b) {
        uint256 slots = jobs * MAX_REDUNDANCY;
        b.payees = new address[](slots + jobs); // operators and model owners
        b.earnings = new uint256[](slots + jobs);
        b.payers = new address[](jobs);
        b.refunds = new uint256[](jobs);
        b.operators = new address[](slots);
        b.releases = new uint256[](slots);
    }

    /// @dev What settlement needs of terms version `version`, read once per run of jobs under the same version.
    function _loadTerms(Batch memory b, uint256 version) private view {
        if (b.terms == version) return;
        Params storage t = _terms[version];
        b.terms = version;
        b.collateral = t.collateral;
        b.treasuryBps = t.treasuryBps;
        b.stakersBps = t.stakersBps;
    }

    /// @dev Operators of every slot whose collateral is still locked (all but the missed ones).
    function _activeSlots(JobId id, Job storage job, Header storage header) private view returns (Batch memory b) {
        b = _newBatch(1);
        uint256 missed = header.missedMask;
        uint256 k = job.k;
        uint256 collateral = _terms[header.terms].collateral;
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) == 0) _queueRelease(b, _operatorAt(id, job, i), collateral);
        }
    }

    function _queueRelease(Batch memory b, address op, uint256 collateral) private pure {
        b.nReleases = _add(b.operators, b.releases, b.nReleases, op, collateral);
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

    /// @dev The model's owner, read from the registry once per run of jobs of the same model in a batch.
    function _ownerOf(Batch memory b, uint256 modelIndex) private view returns (address) {
        if (b.model != modelIndex) {
            (address owner,) = registry.payee(modelIndex);
            b.model = modelIndex;
            b.owner = owner;
        }
        return b.owner;
    }

    /// @dev Who refunds go to: the requester, or the payer module that paid.
    function _payerOf(Job storage job, Header storage header) private view returns (address payer) {
        uint8 module = header.payerModule;
        if (module == 0) return job.requester;
        (payer,) = ledger.payerModule(module);
    }

    // ================================================================ pause bitmap (in the hot slot)

    function _pausedBits() internal view override returns (uint256) {
        return _hot.paused;
    }

    function _storePausedBits(uint256 bits) internal override {
        _hot.paused = bits.toUint8(); // the escrow's only action is 0 (submit)
    }

    // ================================================================ parameters

    /// @dev A new terms version: new jobs get it, open jobs keep theirs. The bounds are checked by the read-only
    /// extension's pure `checkParams` (a plain call: code room here, and governance is a rare path).
    function _setParams(Params memory p) private {
        uint256 longest = JobEscrowViews(_views).checkParams(p, staking.minStake(), staking.unbondingPeriod());
        if (longest > _longestWindow) _longestWindow = longest;
        Hot storage hot = _hot;
        uint256 version = uint256(hot.terms) + 1;
        require(version <= type(uint16).max, JobEscrowParameterOutOfBounds("termsVersion", version, 1, type(uint16).max));
        _terms[version] = p;
        hot.terms = uint16(version);
        hot.minPrice = uint72(p.minPrice); // bounded above
        hot.collateral = p.collateral;
        emit ParamsSet(uint16(version), p);
    }
}
