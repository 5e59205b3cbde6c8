// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {JobId} from "./types/JobId.sol";

/// @title JobEscrowStorage
/// @notice The storage layout of JobEscrow and the read helpers that JobEscrow and its read-only extension
/// JobEscrowViews share. JobEscrowViews runs by delegatecall on JobEscrow's storage, so this contract must be the
/// first base of both and declare every state variable of the escrow (the other bases add none that precede it).
/// @dev Job records are recycled. A job lives in a record (an index); once the job settles without a dispute
/// (finalized, or refunded for a missed step) its record joins a free list and the next submission reuses it,
/// overwriting non-zero slots (5,000 gas each) instead of creating fresh ones (22,100 each). The record's header
/// (`Header`) counts its reuses (the generation) and holds the submission's tag and terms, so an id is never
/// issued twice and a stale id is recognised (JobEscrowJobRecycled, JobEscrowUnknownJob) instead of aliasing the
/// new job. The events are the permanent history; storage holds open jobs and recently settled ones. Records of
/// jobs that went through a dispute are never reused (the DisputeManager reads them after the escrow settles).
abstract contract JobEscrowStorage {
    uint8 internal constant MAX_REDUNDANCY = 7;
    /// @dev Slot index under which a dispute-resolved result is stored (operators use 0..MAX_REDUNDANCY-1).
    uint8 internal constant RESOLVED_SLOT = 7;

    /// @dev A job: two slots. Slot 0 holds everything that submitResult, commit and reveal read or write.
    struct Job {
        // slot 0
        address operator0;
        uint32 phaseEnd; // end of the current phase (0 once settled)
        uint32 deadline;
        IJobEscrow.Status status;
        uint8 k; // redundancy: operators drawn
        uint8 commitMask; // k > 1: slots that committed
        uint8 revealMask; // slots whose result hash is posted (k = 1: the result; k > 1: revealed)
        // slot 1
        address requester;
        uint24 modelIndex;
        uint72 price; // per slot
    }

    /// @dev A record's header: one slot, written whenever a submission takes the record.
    struct Header {
        uint32 generation; // reuses of the record before this job (the id's bits 32-63)
        uint64 tag; // the id's bits 64-127: keccak256(modelId, inputHash)
        uint16 terms; // the terms version the job settles under
        uint16 royaltyBps; // the model's royalty at submission, capped by the terms
        uint8 payerModule; // 0: the requester paid; else the ledger's payer module id (refunds go to it)
        bool declinable; // input the chain cannot vouch for: an assigned operator may `decline` (see there)
        uint8 declinedMask; // slots that declined and were not replaced yet
        uint8 missedMask; // k > 1: slots that missed the reveal (slashed and dropped)
        uint32 nextFree; // once the job settled: the next record of the free list (0 = none)
    }

    /// @dev The one slot a submission reads besides the terms: record count, free-list head, pause bitmap, the
    /// current terms version, and copies of its minimum price and collateral.
    struct Hot {
        uint32 records; // records ever allocated (the most jobs open at once)
        uint32 freeHead; // first reusable record, 0 = none
        uint8 paused;
        uint16 terms; // current terms version (new jobs get it)
        uint72 minPrice;
        uint96 collateral;
    }

    Hot internal _hot;
    /// @dev The longest slashable window over every terms version ever set (never decreases).
    uint256 internal _longestWindow;
    mapping(uint256 version => IJobEscrow.Params) internal _terms;
    mapping(uint256 index => Job) internal _jobs;
    mapping(uint256 index => Header) internal _headers;
    mapping(uint256 index => mapping(uint256 slot => address)) internal _extraOperators; // slots 1..k-1
    mapping(uint256 index => mapping(uint256 slot => bytes32)) internal _slotHashes;

    /// @dev The record of job `id`; reverts when the record now holds a later job (JobEscrowJobRecycled) or the id
    /// was never issued (JobEscrowUnknownJob: another generation or tag; a record never used has status None).
    function _jobOf(JobId id) internal view returns (Job storage job, Header storage header) {
        uint256 index = id.index();
        header = _headers[index];
        uint256 generation = header.generation;
        if (id.generation() != generation || id.tag() != header.tag || id.hasHighBits()) {
            if (id.generation() < generation) revert IJobEscrow.JobEscrowJobRecycled(id);
            revert IJobEscrow.JobEscrowUnknownJob(id);
        }
        job = _jobs[index];
    }

    function _operatorAt(JobId id, Job storage job, uint256 slot) internal view returns (address) {
        if (slot == 0) return job.operator0;
        if (slot >= job.k) return address(0);
        return _extraOperators[id.index()][slot];
    }

    /// @dev The hash every revealed slot agreed on (the first revealed one; only called once they agree).
    function _proposedResult(JobId id, Job storage job) internal view returns (bytes32) {
        uint256 k = job.k;
        mapping(uint256 slot => bytes32) storage hashes = _slotHashes[id.index()];
        uint256 revealed = job.revealMask;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) != 0) return hashes[i];
        }
        return bytes32(0);
    }
}
