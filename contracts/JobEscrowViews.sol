// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow, IJobEscrowViews} from "./interfaces/IJobEscrow.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {JobId, JobIdLib} from "./types/JobId.sol";
import {JobEscrowStorage} from "./JobEscrowStorage.sol";

/// @title JobEscrowViews
/// @notice Every read-only function of JobEscrow (IJobEscrowViews). JobEscrow's fallback delegatecalls this code,
/// which reads the escrow's own storage (same layout: JobEscrowStorage), so callers use the escrow's address for
/// all of them (EigenLayer's split-contract pattern). JobEscrow deploys it in its constructor. Called directly, it
/// reads its own empty storage.
contract JobEscrowViews is JobEscrowStorage, IJobEscrowViews {
    uint256 private constant BPS = 10_000;
    uint256 private constant MAX_PRICE = type(uint72).max;

    /// @inheritdoc IJobEscrowViews
    IERC20 public immutable feeToken;
    /// @inheritdoc IJobEscrowViews
    IModelRegistry public immutable registry;
    /// @inheritdoc IJobEscrowViews
    INodeStaking public immutable staking;
    /// @dev The escrow that deployed this extension: its ledger resolves payer modules.
    address private immutable _escrow;

    constructor(IERC20 feeToken_, IModelRegistry registry_, INodeStaking staking_) {
        feeToken = feeToken_;
        registry = registry_;
        staking = staking_;
        _escrow = msg.sender;
    }

    /// @inheritdoc IJobEscrowViews
    function checkParams(IJobEscrow.Params memory p, uint256 minStake, uint256 unbondingPeriod)
        external
        pure
        returns (uint256 longest)
    {
        _bound("commitWindow", p.commitWindow, 30, 7 days);
        _bound("revealWindow", p.revealWindow, 30, 7 days);
        _bound("challengeWindow", p.challengeWindow, 30, 30 days);
        _bound("disputeWindow", p.disputeWindow, 60, 30 days);
        _bound("maxJobDuration", p.maxJobDuration, uint256(p.commitWindow) + p.revealWindow, 30 days);
        _bound("maxInputBytes", p.maxInputBytes, 32, 128 * 1024);
        _bound("feeBps", uint256(p.treasuryBps) + p.stakersBps + p.maxRoyaltyBps, 0, BPS);
        _bound("minPrice", p.minPrice, 1, MAX_PRICE);
        _bound("collateral", p.collateral, 1, minStake);
        _bound("missPenalty", p.missPenalty, 0, p.collateral);
        _bound("treasury", uint160(p.treasury), 1, type(uint160).max);
        longest = uint256(p.maxJobDuration) + p.challengeWindow + p.disputeWindow;
        _bound("longestSlashableWindow", longest, 0, unbondingPeriod == 0 ? 0 : unbondingPeriod - 1);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, IJobEscrow.JobEscrowParameterOutOfBounds(name, value, min, max));
    }

    /// @inheritdoc IJobEscrowViews
    function getJob(JobId id) external view returns (IJobEscrow.JobView memory v) {
        (Job storage job, Header storage header) = _jobOf(id);
        IJobEscrow.Status status = job.status;
        require(status != IJobEscrow.Status.None, IJobEscrow.JobEscrowUnknownJob(id));
        v.requester = job.requester;
        v.modelId = registry.modelIdAt(job.modelIndex);
        v.status = status;
        v.payerModule = header.payerModule;
        v.payer = job.requester;
        if (v.payerModule != 0) (v.payer,) = IJobEscrow(_escrow).ledger().payerModule(v.payerModule);
        uint256 k = job.k;
        v.redundancy = uint8(k);
        v.price = job.price;
        v.deadline = job.deadline;
        v.phaseEnd = job.phaseEnd;
        v.operators = new address[](k);
        v.slotHashes = new bytes32[](k);
        // A recycled record keeps its previous job's hashes until overwritten: only slots that posted show one.
        uint256 posted = job.commitMask | job.revealMask;
        mapping(uint256 slot => bytes32) storage hashes = _slotHashes[id.index()];
        for (uint256 i; i < k; ++i) {
            v.operators[i] = _operatorAt(id, job, i);
            if (posted & (1 << i) != 0) v.slotHashes[i] = hashes[i];
        }
        v.commitMask = job.commitMask;
        v.revealMask = job.revealMask;
        v.declinedMask = header.declinedMask;
        v.missedMask = header.missedMask;
        v.termsVersion = header.terms;
        v.royaltyBps = header.royaltyBps;
        bytes32 resolved = hashes[RESOLVED_SLOT]; // only disputed jobs, whose records are never reused, write it
        if (resolved != bytes32(0)) v.result = resolved;
        else if (status == IJobEscrow.Status.Proposed || status == IJobEscrow.Status.Finalized) v.result = _proposedResult(id, job);
    }

    /// @inheritdoc IJobEscrowViews
    function params() external view returns (IJobEscrow.Params memory) {
        return _terms[_hot.terms];
    }

    /// @inheritdoc IJobEscrowViews
    function paramsAt(uint16 version) external view returns (IJobEscrow.Params memory) {
        require(version != 0 && version <= _hot.terms, IJobEscrow.JobEscrowParameterOutOfBounds("termsVersion", version, 1, _hot.terms));
        return _terms[version];
    }

    /// @inheritdoc IJobEscrowViews
    function termsVersion() external view returns (uint16) {
        return _hot.terms;
    }

    /// @inheritdoc IJobEscrowViews
    function recordCount() external view returns (uint256) {
        return _hot.records;
    }

    /// @inheritdoc IJobEscrowViews
    function nextJobId(bytes32 modelId, bytes32 inputHash) external view returns (JobId) {
        uint256 tag = JobIdLib.tagOf(modelId, inputHash);
        uint256 index = _hot.freeHead;
        if (index == 0) return JobIdLib.make(uint256(_hot.records) + 1, 0, tag);
        return JobIdLib.make(index, uint256(_headers[index].generation) + 1, tag);
    }

    /// @inheritdoc IJobEscrowViews
    function jobIdAt(uint256 index) external view returns (JobId) {
        Header storage header = _headers[index];
        if (index == 0 || index > _hot.records) revert IJobEscrow.JobEscrowUnknownJob(JobId.wrap(index));
        return JobIdLib.make(index, header.generation, header.tag);
    }

    /// @inheritdoc IJobEscrowViews
    function isPaused(uint8 action) external view returns (bool) {
        return _hot.paused & (1 << action) != 0;
    }

    /// @notice See ISlashWindowSource.
    function longestSlashableWindow() external view returns (uint256) {
        return _longestWindow;
    }
}
