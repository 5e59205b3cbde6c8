// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IFeeLedger} from "./interfaces/IFeeLedger.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {JobLib} from "./libraries/JobLib.sol";
import {Randomness} from "./libraries/Randomness.sol";
import {JobId} from "./types/JobId.sol";
import {JobEscrowStorage} from "./JobEscrowStorage.sol";

/// @title JobEscrowSettlement
/// @notice Settlement and missed-step handling shared by JobEscrow and its write extension JobEscrowMisses (both
/// run on JobEscrow's storage): paying a job out under its frozen terms, refunding it, slashing and replacing
/// operators that missed a step. Credits are summed per account in memory and written once per batch.
abstract contract JobEscrowSettlement is JobEscrowStorage {
    using JobLib for Job;

    address internal constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

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

    /// @dev The protocol contracts, immutables of each contract that runs this code.
    function _registry() internal view virtual returns (IModelRegistry);

    function _staking() internal view virtual returns (INodeStaking);

    function _ledger() internal view virtual returns (IFeeLedger);

    // ================================================================ missed steps

    function _handleMissedCommit(JobId id, Job storage job, Header storage header) internal {
        uint256 k = job.k;
        uint256 committed = job.commitMask; // always 0 at k = 1
        IJobEscrow.Params storage t = _terms[header.terms];
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
        _refund(id, job, header, IJobEscrow.RefundReason.DeadlinePassed, b);
    }

    /// @dev Penalises every slot that did not take up its job; a slot that declined is released without penalty.
    function _slashMissedCommits(
        JobId id,
        address[] memory current,
        uint256 committed,
        uint256 declined,
        IJobEscrow.Params storage t
    ) internal {
        address recipient = _missRecipient(t);
        for (uint256 i; i < current.length; ++i) {
            if (committed & (1 << i) != 0) continue;
            uint256 penalty = declined & (1 << i) == 0 ? t.missPenalty : 0;
            uint256 slashed = _staking().slash(current[i], t.collateral, penalty, recipient);
            emit IJobEscrow.SlotMissed(id, uint8(i), current[i], IJobEscrow.Status.Assigned, slashed);
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
    ) internal returns (bool) {
        uint256 k = current.length;
        uint256 missing;
        for (uint256 i; i < k; ++i) {
            if (committed & (1 << i) == 0) ++missing;
        }
        try _staking().assign(job.modelIndex, missing, Randomness.draw(id.seed()), collateral, current)
        returns (address[] memory fresh) {
            _install(id, job, committed, fresh, nextEnd);
            return true;
        } catch {
            return false; // not enough eligible operators left
        }
    }

    /// @dev Puts the freshly drawn operators in the slots that did not commit; their commit phase ends at `end`.
    function _install(JobId id, Job storage job, uint256 committed, address[] memory fresh, uint256 end) internal {
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
        emit IJobEscrow.OperatorsAssigned(id, slots, fresh, uint32(end));
    }

    function _handleMissedReveal(JobId id, Job storage job, Header storage header) internal {
        uint256 revealed = job.revealMask;
        uint256 k = job.k;
        IJobEscrow.Params storage t = _terms[header.terms];
        address recipient = _missRecipient(t);
        uint256 missed;
        for (uint256 i; i < k; ++i) {
            if (revealed & (1 << i) != 0) continue;
            address op = _operatorAt(id, job, i);
            missed |= 1 << i;
            uint256 slashed = _staking().slash(op, t.collateral, t.missPenalty, recipient);
            emit IJobEscrow.SlotMissed(id, uint8(i), op, IJobEscrow.Status.Revealing, slashed);
        }
        header.missedMask = uint8(missed);
        if (revealed == 0) {
            _refund(id, job, header, IJobEscrow.RefundReason.NoReveals, _newBatch(1));
            return;
        }
        job.evaluate(id, _slotHashes[id.index()], t.challengeWindow, t.disputeWindow);
    }

    /// @dev Where a miss penalty goes, as the job's terms say (the treasury named by the current terms).
    function _missRecipient(IJobEscrow.Params storage t) internal view returns (address) {
        IJobEscrow.SlashDestination to = t.missSlashTo;
        if (to == IJobEscrow.SlashDestination.Treasury) return _terms[_hot.terms].treasury;
        if (to == IJobEscrow.SlashDestination.Caller) return msg.sender;
        return BURN_ADDRESS;
    }

    // ================================================================ settlement

    /// @dev Settles the ready jobs of `ids` into one batch, then writes it.
    function _finalizeMany(JobId[] calldata ids, address claimer, address to)
        internal
        returns (uint256 settled, uint256 paid)
    {
        Batch memory b = _newBatch(ids.length);
        for (uint256 i; i < ids.length; ++i) {
            JobId id = ids[i];
            Header storage header = _headers[id.index()];
            if (id.generation() != header.generation || id.tag() != header.tag || id.hasHighBits()) continue;
            Job storage job = _jobs[id.index()];
            if (job.status != IJobEscrow.Status.Proposed || block.timestamp <= job.phaseEnd) continue;
            _settle(b, id, job, header, _proposedResult(id, job));
            ++settled;
        }
        paid = _flush(b, claimer, to);
    }

    /// @dev Pays every operator whose result equals `result` under the job's terms; the shares of the others go
    /// back to the payer. Releases (in the batch) the collateral of every slot not already released by a miss.
    function _settle(Batch memory b, JobId id, Job storage job, Header storage header, bytes32 result) internal {
        _loadTerms(b, header.terms);
        (address[] memory paid, uint256 paidCount) = _releaseAndCollect(b, id, job, header.missedMask, result);
        _close(id, job, header, IJobEscrow.Status.Finalized);
        _distribute(b, id, job, header, result, paid, paidCount);
    }

    /// @dev k = 1 reaches settlement only with its result posted; k > 1 only after the reveal phase, where every
    /// slot that did not reveal was missed (and released by its penalty).
    function _releaseAndCollect(Batch memory b, JobId id, Job storage job, uint256 missed, bytes32 result)
        internal
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
    ) internal {
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
        emit IJobEscrow.JobFinalized(id, result, uint8(paidCount), fee, refund, s.royalty, s.treasury, s.stakers, s.perOperator);
    }

    /// @dev Refunds the job's whole fee to its payer; `b` holds the collateral to release (slots still locked).
    function _refund(JobId id, Job storage job, Header storage header, IJobEscrow.RefundReason reason, Batch memory b) internal {
        _close(id, job, header, IJobEscrow.Status.Refunded);
        uint256 amount = uint256(job.price) * job.k;
        address payer = _payerOf(job, header);
        b.nPayers = _add(b.payers, b.refunds, b.nPayers, payer, amount);
        emit IJobEscrow.JobRefunded(id, payer, amount, reason);
        _flush(b, address(0), address(0));
    }

    /// @dev Ends a job. Its record joins the free list unless the job was disputed: the DisputeManager reads a
    /// disputed job after the escrow settled it, so that record is kept.
    function _close(JobId id, Job storage job, Header storage header, IJobEscrow.Status terminal) internal {
        if (job.status != IJobEscrow.Status.Disputed) {
            Hot storage hot = _hot;
            header.nextFree = hot.freeHead;
            hot.freeHead = uint32(id.index());
        }
        job.status = terminal;
        job.phaseEnd = 0;
    }

    /// @dev Writes a batch: one ledger call (each account once, both accruals), one collateral release call.
    function _flush(Batch memory b, address claimer, address to) internal returns (uint256 paid) {
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
            paid = _ledger().settle(IFeeLedger.Settlement(payees, earnings, payers, refunds, b.treasury, b.stakers), claimer, to);
        }
        uint256 n = b.nReleases;
        if (n == 0) return paid;
        address[] memory operators = b.operators;
        uint256[] memory releases = b.releases;
        assembly ("memory-safe") {
            mstore(operators, n)
            mstore(releases, n)
        }
        _staking().releaseMany(operators, releases);
    }

    function _newBatch(uint256 jobs) internal pure returns (Batch memory b) {
        uint256 slots = jobs * MAX_REDUNDANCY;
        b.payees = new address[](slots + jobs); // operators and model owners
        b.earnings = new uint256[](slots + jobs);
        b.payers = new address[](jobs);
        b.refunds = new uint256[](jobs);
        b.operators = new address[](slots);
        b.releases = new uint256[](slots);
    }

    /// @dev What settlement needs of terms version `version`, read once per run of jobs under the same version.
    function _loadTerms(Batch memory b, uint256 version) internal view {
        if (b.terms == version) return;
        IJobEscrow.Params storage t = _terms[version];
        b.terms = version;
        b.collateral = t.collateral;
        b.treasuryBps = t.treasuryBps;
        b.stakersBps = t.stakersBps;
    }

    /// @dev Operators of every slot whose collateral is still locked (all but the missed ones).
    function _activeSlots(JobId id, Job storage job, Header storage header) internal view returns (Batch memory b) {
        b = _newBatch(1);
        uint256 missed = header.missedMask;
        uint256 k = job.k;
        uint256 collateral = _terms[header.terms].collateral;
        for (uint256 i; i < k; ++i) {
            if (missed & (1 << i) == 0) _queueRelease(b, _operatorAt(id, job, i), collateral);
        }
    }

    function _queueRelease(Batch memory b, address op, uint256 collateral) internal pure {
        b.nReleases = _add(b.operators, b.releases, b.nReleases, op, collateral);
    }

    /// @dev Adds `amount` to `account`'s entry (appending one if absent); returns the new entry count.
    function _add(address[] memory accounts, uint256[] memory amounts, uint256 n, address account, uint256 amount)
        internal
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
    function _ownerOf(Batch memory b, uint256 modelIndex) internal view returns (address) {
        if (b.model != modelIndex) {
            (address owner,) = _registry().payee(modelIndex);
            b.model = modelIndex;
            b.owner = owner;
        }
        return b.owner;
    }

    /// @dev Who refunds go to: the requester, or the payer module that paid.
    function _payerOf(Job storage job, Header storage header) internal view returns (address payer) {
        uint8 module = header.payerModule;
        if (module == 0) return job.requester;
        (payer,) = _ledger().payerModule(module);
    }

}
