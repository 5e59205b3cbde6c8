// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow} from "./interfaces/IJobEscrow.sol";

/// @title JobEscrowStorage
/// @notice The storage layout of JobEscrow and the read helpers that JobEscrow and its read-only extension
/// JobEscrowViews share. JobEscrowViews runs by delegatecall on JobEscrow's storage, so this contract must be the
/// first base of both and declare every state variable of the escrow (the other bases add none that precede it).
/// @dev Job records are recycled. A job lives in a record (an index); once the job settles without a dispute
/// (finalized, or refunded for a missed step) its record joins a free list and the next submission reuses it,
/// overwriting non-zero slots (5,000 gas each) instead of creating fresh ones (22,100 each). A job id is
/// `generation << 32 | index`: the record's generation counts its reuses, so an id is never issued twice and the
/// id of a job whose record was reused is recognised (JobEscrowJobRecycled) instead of aliasing the new job.
/// The events are the permanent history; storage holds open jobs and recently settled ones. Records of jobs that
/// went through a dispute are never reused (the DisputeManager reads them after the escrow settles).
abstract contract JobEscrowStorage {
    uint8 internal constant MAX_REDUNDANCY = 7;
    /// @dev Slot index under which a dispute-resolved result is stored (operators use 0..MAX_REDUNDANCY-1).
    uint8 internal constant RESOLVED_SLOT = 7;
    /// @dev Bit 7 of `Job.kMode`: paid from the credits pool (PayMode.Allowance); bits 0-2 hold k.
    uint8 internal constant ALLOWANCE_BIT = 0x80;
    /// @dev Bit 6 of `Job.kMode`: the input depends on something the chain cannot guarantee (a blob by reference,
    /// or an encrypted envelope whose key comes off-chain), so an assigned operator may `decline` its slot.
    uint8 internal constant DECLINABLE_BIT = 0x40;
    uint8 internal constant K_MASK = 0x07;

    struct Job {
        // slot 0: all that submitResult, commit and reveal read or write
        address operator0;
        uint32 phaseEnd; // once settled and recycled: the next record of the free list
        uint32 deadline;
        IJobEscrow.Status status;
        uint8 kMode; // k | ALLOWANCE_BIT (paid by the credits pool) | DECLINABLE_BIT (see `decline`)
        uint8 commitMask; // slots that committed (k = 1: bit 0 once the result is posted)
        uint8 revealMask; // k > 1: slots that revealed; while Assigned: slots that declined
        // slot 1
        address requester;
        uint24 modelIndex;
        uint72 price;
    }

    /// @dev The one slot a submission reads besides the windows: record count, free-list head, pause bitmap, and
    /// copies of the minimum price and of the collateral (kept in step with `_params` by _setParams).
    struct Hot {
        uint32 records; // records ever allocated (the most jobs open at once)
        uint32 freeHead; // first reusable record, 0 = none
        uint8 paused;
        uint72 minPrice;
        uint96 collateral;
    }

    IJobEscrow.Params internal _params;
    address internal _creditsPool;
    Hot internal _hot;
    uint128 internal _treasuryAccrued;
    uint128 internal _stakerAccrued;

    mapping(uint256 index => Job) internal _jobs;
    mapping(uint256 index => mapping(uint256 slot => address)) internal _extraOperators; // slots 1..k-1
    mapping(uint256 index => mapping(uint256 slot => bytes32)) internal _slotHashes;
    /// @dev k > 1 only: slots that missed the reveal (slashed and dropped); written only on that path, keyed by job id.
    mapping(uint256 jobId => uint256) internal _missed;
    mapping(address account => uint256) internal _deposits;
    mapping(address account => uint256) internal _earnings;
    /// @dev How many times each record was reused (the high bits of the ids of the jobs it holds).
    mapping(uint256 index => uint256) internal _generations;

    /// @dev The record of job `jobId`; reverts when the record now holds a later job (JobEscrowJobRecycled) or
    /// was never issued with this generation (JobEscrowUnknownJob; a record never used has status None).
    function _jobOf(uint256 jobId) internal view returns (Job storage) {
        uint256 generation = _generations[uint32(jobId)];
        uint256 claimed = jobId >> 32;
        if (claimed != generation) {
            if (claimed < generation) revert IJobEscrow.JobEscrowJobRecycled(jobId);
            revert IJobEscrow.JobEscrowUnknownJob(jobId);
        }
        return _jobs[uint32(jobId)];
    }

    function _operatorAt(uint256 jobId, Job storage job, uint256 slot) internal view returns (address) {
        if (slot == 0) return job.operator0;
        if (slot >= _k(job)) return address(0);
        return _extraOperators[uint32(jobId)][slot];
    }

    function _k(Job storage job) internal view returns (uint256) {
        return job.kMode & K_MASK;
    }

    function _proposedResult(uint256 jobId, Job storage job) internal view returns (bytes32) {
        uint256 k = _k(job);
        mapping(uint256 slot => bytes32) storage hashes = _slotHashes[uint32(jobId)];
        if (k == 1) return hashes[0];
        uint256 revealed = job.revealMask;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) != 0) return hashes[i];
        }
        return bytes32(0);
    }
}
