// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobKeys} from "./interfaces/IJobKeys.sol";
import {IJobEscrow, IVeilEscrow} from "./interfaces/IJobEscrow.sol";
import {JobId} from "./types/JobId.sol";

/// @title JobKeys
/// @notice Event-only channel for wrapped content keys of private jobs.
contract JobKeys is IJobKeys {
    /// @inheritdoc IJobKeys
    uint256 public constant WRAPPED_KEY_LENGTH = 175;

    IVeilEscrow private immutable _escrow;

    constructor(IVeilEscrow escrow_) {
        _escrow = escrow_;
    }

    /// @inheritdoc IJobKeys
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc IJobKeys
    function publishKeys(uint256 jobId, address[] calldata recipients, bytes[] calldata wrappedKeys) external {
        uint256 n = recipients.length;
        require(n != 0 && n == wrappedKeys.length, JobKeysLengthMismatch(n, wrappedKeys.length));
        require(_mayPublish(jobId, msg.sender), JobKeysUnauthorized(jobId, msg.sender));
        for (uint256 i; i < n; ++i) {
            require(recipients[i] != address(0), JobKeysZeroRecipient(i));
            uint256 len = wrappedKeys[i].length;
            require(len == WRAPPED_KEY_LENGTH, JobKeysBadWrappedKey(i, len));
            emit KeysPublished(jobId, recipients[i], msg.sender, wrappedKeys[i]);
        }
    }

    /// @dev The requester, or an operator currently holding one of the job's slots (reverts for an unknown job).
    function _mayPublish(uint256 jobId, address caller) private view returns (bool) {
        IJobEscrow.JobView memory job = _escrow.getJob(JobId.wrap(jobId));
        if (caller == job.requester) return true;
        for (uint256 i; i < job.operators.length; ++i) {
            if (caller == job.operators[i]) return true;
        }
        return false;
    }
}
