// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {JobEscrowStorage} from "./JobEscrowStorage.sol";

/// @title JobEscrowViews
/// @notice Read-only extension of JobEscrow: JobEscrow's `getJob` delegatecalls this code, which reads the escrow's
/// own storage (same layout: JobEscrowStorage). It lives apart only to keep JobEscrow under the 24,576-byte code
/// limit; JobEscrow deploys it in its constructor. Called directly, it reads its own empty storage.
contract JobEscrowViews is JobEscrowStorage {
    IModelRegistry private immutable _registry;

    constructor(IModelRegistry registry_) {
        _registry = registry_;
    }

    /// @notice See IJobEscrow.getJob.
    function getJob(uint256 jobId) external view returns (IJobEscrow.JobView memory v) {
        Job storage job = _jobOf(jobId);
        IJobEscrow.Status status = job.status;
        require(status != IJobEscrow.Status.None, IJobEscrow.JobEscrowUnknownJob(jobId));
        v.requester = job.requester;
        v.modelId = _registry.modelIdAt(job.modelIndex);
        v.status = status;
        v.payMode = job.kMode & ALLOWANCE_BIT == 0 ? IJobEscrow.PayMode.Deposit : IJobEscrow.PayMode.Allowance;
        uint256 k = _k(job);
        v.redundancy = uint8(k);
        v.price = job.price;
        v.deadline = job.deadline;
        bool settled = status == IJobEscrow.Status.Finalized || status == IJobEscrow.Status.Refunded;
        // A settled job's phaseEnd field links the free list: no phase is open.
        if (!settled) v.phaseEnd = job.phaseEnd;
        v.operators = new address[](k);
        v.slotHashes = new bytes32[](k);
        // A recycled record keeps its previous job's hashes until overwritten: only slots that posted show one.
        uint256 posted = job.commitMask;
        mapping(uint256 slot => bytes32) storage hashes = _slotHashes[uint32(jobId)];
        for (uint256 i; i < k; ++i) {
            v.operators[i] = _operatorAt(jobId, job, i);
            if (posted & (1 << i) != 0) v.slotHashes[i] = hashes[i];
        }
        v.commitMask = k == 1 ? 0 : job.commitMask;
        v.revealMask = job.revealMask;
        v.missedMask = uint8(_missed[jobId]);
        bytes32 resolved = hashes[RESOLVED_SLOT]; // only disputed jobs, whose records are never reused, write it
        if (resolved != bytes32(0)) v.result = resolved;
        else if (status == IJobEscrow.Status.Proposed || status == IJobEscrow.Status.Finalized) v.result = _proposedResult(jobId, job);
    }
}
