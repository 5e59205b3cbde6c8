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
import {JobEscrowSettlement} from "./JobEscrowSettlement.sol";
import {JobEscrowMisses} from "./JobEscrowMisses.sol";
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
contract JobEscrow is JobEscrowSettlement, IJobEscrow, AccessManaged, PausableActions, ReentrancyGuardTransient, Multicall {
    using SafeCast for uint256;
    using JobLib for Job;

    uint8 private constant ACTION_SUBMIT = 0;
    /// @dev First four bytes ("VEIL") of a private job's inline input envelope (docs/privacy.md).
    bytes4 private constant ENVELOPE_MAGIC = 0x5645494c;
    /// @dev Largest per-slot price a job can store (72 bits); see JobEscrowPriceAboveMaximum.
    uint256 private constant MAX_PRICE = type(uint72).max;

    IERC20 private immutable feeToken;
    IModelRegistry private immutable registry;
    INodeStaking private immutable staking;
    /// @inheritdoc IJobEscrow
    IFeeLedger public immutable ledger;

    /// @dev Read-only extension: every view of the escrow (delegatecalled from `fallback`).
    address private immutable _views;
    /// @dev Write extension for the rare path of missed steps (delegatecalled by `poke` only).
    address private immutable _misses;

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
        _misses = address(new JobEscrowMisses(registry_, staking_, ledger));
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

    function _registry() internal view override returns (IModelRegistry) {
        return registry;
    }

    function _staking() internal view override returns (INodeStaking) {
        return staking;
    }

    function _ledger() internal view override returns (IFeeLedger) {
        return ledger;
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
        if (status == Status.Assigned || status == Status.Revealing) {
            // A missed commit or reveal: slash, replace or refund, in the write extension (code room here).
            (bool ok, bytes memory err) = _misses.delegatecall(abi.encodeCall(JobEscrowMisses.handleMiss, (id)));
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(err, 32), mload(err))
                }
            }
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
        // for the JobSubmitted event
        JobId id;
        address requester;
        uint8 payerModule;
        uint16 terms;
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
        (sub.id, sub.requester, sub.payerModule, sub.terms) = (id, requester, payerModule, hot.terms);
        _emitSubmitted(p, sub);
        emit OperatorsAssigned(id, slots, ops, uint32(sub.commitEnd));
    }

    function _emitSubmitted(SubmitParams calldata p, Submission memory sub) private {
        emit JobSubmitted(
            sub.id,
            sub.requester,
            p.modelId,
            uint8(sub.k),
            sub.price * sub.k,
            p.deadline,
            sub.payerModule,
            sub.terms,
            uint16(sub.royaltyBps),
            sub.inputHash,
            p.input,
            p.inputURI
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
