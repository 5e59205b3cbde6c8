// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Randomness
/// @notice The protocol's only source of randomness for operator and committee selection, behind one function
/// so that a VRF can replace it.
/// @dev Source: `block.prevrandao` (the beacon chain's RANDAO mix) mixed with the previous block hash and a
/// caller-provided domain salt. Who can bias it: the block proposer can withhold its block (losing the
/// reward) to pick between two outcomes, i.e. 1 bit of bias per proposed slot; users can predict the value
/// one block ahead and so choose *whether* to send a transaction, but cannot choose the outcome. Selection
/// that needs more (committees) draws from a block strictly after the request (see DisputeManager).
library Randomness {
    function draw(bytes32 salt) internal view returns (uint256) {
        return uint256(keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), salt)));
    }

    /// @notice Expands one seed into a stream: the n-th value is keccak256(seed, n).
    function at(uint256 seed, uint256 n) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, n)));
    }
}
