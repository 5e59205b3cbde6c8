// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice A job's id: `tag << 64 | generation << 32 | index` (bits 128 and up are zero).
/// - index: the storage record that holds the job (records are reused once a job settles);
/// - generation: how many times that record was reused before this job, so an id is never issued twice;
/// - tag: 64 bits of `keccak256(modelId, inputHash)`, the submission's input commitment. Every post names the job
///   by this id, so a post made for one submission cannot settle another that took the same record and generation
///   (after a reorg replaced the first submission, for instance): its tag differs and the post reverts.
/// Uniswap v4's PoolId plays the same part: one value type instead of raw integers and casts at every use.
type JobId is uint256;

using JobIdLib for JobId global;

library JobIdLib {
    function make(uint256 index_, uint256 generation_, uint256 tag_) internal pure returns (JobId) {
        return JobId.wrap(tag_ << 64 | generation_ << 32 | index_);
    }

    /// @dev The record the job lives in.
    function index(JobId id) internal pure returns (uint256) {
        return uint32(JobId.unwrap(id));
    }

    function generation(JobId id) internal pure returns (uint256) {
        return uint32(JobId.unwrap(id) >> 32);
    }

    function tag(JobId id) internal pure returns (uint256) {
        return uint64(JobId.unwrap(id) >> 64);
    }

    /// @dev Bits that no issued id sets.
    function hasHighBits(JobId id) internal pure returns (bool) {
        return JobId.unwrap(id) >> 128 != 0;
    }

    /// @dev The tag of a submission: what it answers (the model and the input commitment).
    function tagOf(bytes32 modelId, bytes32 inputHash) internal pure returns (uint64) {
        return uint64(uint256(keccak256(abi.encode(modelId, inputHash))));
    }

    /// @dev The seed material of draws for this job.
    function seed(JobId id) internal pure returns (bytes32) {
        return bytes32(JobId.unwrap(id));
    }
}
