// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobEscrow} from "./interfaces/IJobEscrow.sol";
import {IFeeLedger} from "./interfaces/IFeeLedger.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeStaking} from "./interfaces/INodeStaking.sol";
import {JobId} from "./types/JobId.sol";
import {JobEscrowSettlement} from "./JobEscrowSettlement.sol";

/// @title JobEscrowMisses
/// @notice JobEscrow's write extension for the rare path of a missed commit or reveal (slash, replace or refund).
/// JobEscrow's `poke` delegatecalls `handleMiss` on the escrow's own storage (same layout), after its own checks
/// (reentrancy guard, status, closed window); nothing else reaches it: it is not behind the escrow's fallback,
/// which serves only the read-only extension, and called at its own address it refuses to run.
contract JobEscrowMisses is JobEscrowSettlement {
    IModelRegistry private immutable registry;
    INodeStaking private immutable staking;
    IFeeLedger private immutable ledger;
    /// @dev The escrow that deployed this extension: the only context it runs in (by delegatecall).
    address private immutable _escrow;

    error JobEscrowMissesOnlyByDelegatecall();

    constructor(IModelRegistry registry_, INodeStaking staking_, IFeeLedger ledger_) {
        registry = registry_;
        staking = staking_;
        ledger = ledger_;
        _escrow = msg.sender;
    }

    /// @notice Handles a job past its commit or reveal window (JobEscrow.poke checked the status and window).
    function handleMiss(JobId id) external {
        require(address(this) == _escrow, JobEscrowMissesOnlyByDelegatecall());
        (Job storage job, Header storage header) = _jobOf(id);
        if (job.status == IJobEscrow.Status.Assigned) _handleMissedCommit(id, job, header);
        else _handleMissedReveal(id, job, header);
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
}
