// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IJobEscrow} from "../interfaces/IJobEscrow.sol";
import {JobId} from "../types/JobId.sol";
import {JobEscrowStorage} from "../JobEscrowStorage.sol";

/// @title JobLib
/// @notice The job state machine over a job's storage record, in the way of Uniswap v4's `Pool` library: every
/// transition of a job's own state (who may post, in which phase, what the post moves the job to) lives here and
/// emits its event; JobEscrow orchestrates what crosses contracts (draws, collateral, money).
/// States: Assigned -> (k > 1) Revealing -> Proposed -> Finalized, with Disputed after Revealing (disagreement) or
/// Proposed (challenge), and Refunded from any open state once its deadline or window makes that the only exit.
library JobLib {
    using SafeCast for uint256;

    /// @dev k = 1: the operator posts its result hash directly, which proposes it.
    function post(JobEscrowStorage.Job storage job, JobId id, mapping(uint256 => bytes32) storage hashes, bytes32 resultHash)
        internal
    {
        expectStatus(job, id, IJobEscrow.Status.Assigned);
        require(job.k == 1, IJobEscrow.JobEscrowUseCommitReveal(id));
        checkPost(id, job.operator0, 0, job.phaseEnd, resultHash);
        job.revealMask = 1;
        hashes[0] = resultHash;
        emit IJobEscrow.ResultRevealed(id, 0, msg.sender, resultHash);
    }

    /// @dev k > 1: a slot commits. Returns true when every slot has now committed (the reveal phase starts).
    /// `declined`: the slots that declined; when they and the committed slots are all of them, the commit phase
    /// ends at once (nobody has anything left to commit) so that `poke` can replace the declined slots.
    function commit(
        JobEscrowStorage.Job storage job,
        JobId id,
        uint8 slot,
        address holder,
        uint256 declined,
        mapping(uint256 => bytes32) storage hashes,
        bytes32 commitment
    ) internal returns (bool full) {
        expectStatus(job, id, IJobEscrow.Status.Assigned);
        uint256 k = job.k;
        require(k > 1, IJobEscrow.JobEscrowNoCommitPhase(id));
        checkPost(id, holder, slot, job.phaseEnd, commitment);
        uint256 committed = job.commitMask;
        uint256 bit = 1 << slot; // slot < k <= 7: the holder is the caller
        require((committed | declined) & bit == 0, IJobEscrow.JobEscrowAlreadyCommitted(id, slot));
        committed |= bit;
        job.commitMask = uint8(committed);
        hashes[slot] = commitment;
        emit IJobEscrow.ResultCommitted(id, slot, msg.sender);
        uint256 all = (1 << k) - 1;
        if (committed == all) return true;
        if ((committed | declined) == all) job.phaseEnd = uint32(block.timestamp - 1);
        return false;
    }

    /// @dev k > 1: every slot committed; reveals are due by `end`.
    function startReveal(JobEscrowStorage.Job storage job, JobId id, uint256 window) internal {
        uint32 end = (block.timestamp + window).toUint32();
        job.status = IJobEscrow.Status.Revealing;
        job.phaseEnd = end;
        emit IJobEscrow.RevealPhaseStarted(id, end);
    }

    /// @dev k > 1: a slot reveals the hash it committed to. Returns true when every slot has revealed.
    function reveal(
        JobEscrowStorage.Job storage job,
        JobId id,
        uint8 slot,
        address holder,
        mapping(uint256 => bytes32) storage hashes,
        bytes32 resultHash,
        bytes32 commitment
    ) internal returns (bool all) {
        expectStatus(job, id, IJobEscrow.Status.Revealing);
        checkPost(id, holder, slot, job.phaseEnd, resultHash);
        uint256 revealed = job.revealMask;
        uint256 bit = 1 << slot; // slot < k <= 7
        require(revealed & bit == 0, IJobEscrow.JobEscrowAlreadyRevealed(id, slot));
        require(hashes[slot] == commitment, IJobEscrow.JobEscrowCommitmentMismatch(id, slot));
        revealed |= bit;
        job.revealMask = uint8(revealed);
        hashes[slot] = resultHash;
        emit IJobEscrow.ResultRevealed(id, slot, msg.sender, resultHash);
        return revealed == (1 << job.k) - 1;
    }

    /// @dev The revealed results: all equal -> proposed (challenge window `challengeWindow`), else disputed.
    function evaluate(
        JobEscrowStorage.Job storage job,
        JobId id,
        mapping(uint256 => bytes32) storage hashes,
        uint256 challengeWindow,
        uint256 disputeWindow
    ) internal {
        uint256 revealed = job.revealMask;
        uint256 k = job.k;
        bytes32 first;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) == 0) continue;
            bytes32 h = hashes[i];
            if (first == bytes32(0)) first = h;
            else if (h != first) return dispute(job, id, IJobEscrow.DisputeReason.Disagreement, disputeWindow);
        }
        propose(job, id, first, challengeWindow);
    }

    function propose(JobEscrowStorage.Job storage job, JobId id, bytes32 resultHash, uint256 window) internal {
        uint32 end = (block.timestamp + window).toUint32();
        job.status = IJobEscrow.Status.Proposed;
        job.phaseEnd = end;
        emit IJobEscrow.ResultProposed(id, resultHash, end);
    }

    function dispute(JobEscrowStorage.Job storage job, JobId id, IJobEscrow.DisputeReason reason, uint256 window)
        internal
    {
        uint32 end = (block.timestamp + window).toUint32();
        job.status = IJobEscrow.Status.Disputed;
        job.phaseEnd = end;
        emit IJobEscrow.JobDisputed(id, reason, end);
    }

    // ---------------------------------------------------------------- checks

    /// @dev An operator's post: the caller holds the slot, its phase is open, the hash is set.
    function checkPost(JobId id, address holder, uint256 slot, uint32 phaseEnd, bytes32 hash) internal view {
        require(holder == msg.sender, IJobEscrow.JobEscrowNotAssigned(id, slot, msg.sender));
        checkOpen(id, phaseEnd);
        require(hash != bytes32(0), IJobEscrow.JobEscrowZeroHash());
    }

    function checkOpen(JobId id, uint32 phaseEnd) internal view {
        require(block.timestamp <= phaseEnd, IJobEscrow.JobEscrowWindowClosed(id, phaseEnd, block.timestamp));
    }

    function checkClosed(JobId id, uint32 phaseEnd) internal view {
        require(block.timestamp > phaseEnd, IJobEscrow.JobEscrowWindowOpen(id, phaseEnd, block.timestamp));
    }

    function expectStatus(JobEscrowStorage.Job storage job, JobId id, IJobEscrow.Status expected) internal view {
        IJobEscrow.Status status = job.status;
        if (status == expected) return;
        if (status == IJobEscrow.Status.None) revert IJobEscrow.JobEscrowUnknownJob(id);
        revert IJobEscrow.JobEscrowWrongStatus(id, status);
    }

    function isSettled(IJobEscrow.Status status) internal pure returns (bool) {
        return status == IJobEscrow.Status.Finalized || status == IJobEscrow.Status.Refunded;
    }
}
