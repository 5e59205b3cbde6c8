// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IJobKeys
/// @notice Delivery channel for the wrapped content keys of private jobs (see docs/privacy.md). The escrow draws a
/// job's operators inside `submitJob`, so the requester can only wrap the job's content key to their registered
/// X25519 keys after the `OperatorsAssigned` event; it then publishes one wrapped key per operator here. During a
/// dispute, the requester or an operator of the job re-wraps the key for the drawn committee members the same way.
/// Nothing is stored: the keys live in events (about 175 bytes each), which workers and committee members read by
/// `jobId` and `recipient`. A wrapped key is useless without the recipient's secret key, so publishing is safe;
/// the caller check only keeps strangers from filling a job's channel with undecryptable keys.
interface IJobKeys {
    /// @notice `publisher` (the job's requester, or one of its current operators) published `wrappedKey` for
    /// `recipient` (an operator or committee member address). The wrapped key names its role and job context.
    event KeysPublished(uint256 indexed jobId, address indexed recipient, address indexed publisher, bytes wrappedKey);

    /// @notice The caller is neither the job's requester nor one of its current operators.
    error JobKeysUnauthorized(uint256 jobId, address caller);
    /// @notice `recipients` and `wrappedKeys` differ in length, or are empty.
    error JobKeysLengthMismatch(uint256 recipients, uint256 wrappedKeys);
    /// @notice The wrapped key at `index` is not `WRAPPED_KEY_LENGTH` bytes.
    error JobKeysBadWrappedKey(uint256 index, uint256 length);
    /// @notice The recipient at `index` is the zero address.
    error JobKeysZeroRecipient(uint256 index);

    /// @notice Publishes one wrapped content key per recipient for job `jobId`. Callable by the job's requester
    /// (operator keys at submission, and re-sends to replacement operators) and by its current operators
    /// (committee re-wraps in a dispute). Reverts with the escrow's `JobEscrowUnknownJob` for an unknown job.
    function publishKeys(uint256 jobId, address[] calldata recipients, bytes[] calldata wrappedKeys) external;

    /// @notice The escrow whose jobs this channel serves.
    function escrow() external view returns (address);

    /// @notice Size of a serialized wrapped key (format version 1): 175 bytes.
    function WRAPPED_KEY_LENGTH() external view returns (uint256);
}
