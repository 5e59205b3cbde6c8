// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice A contract whose faults can be slashed for some time after they happen.
interface ISlashWindowSource {
    /// @notice The longest time, in seconds, between an operator taking on an obligation and the last moment
    /// it can be slashed for it. Unbonding must take strictly longer.
    function longestSlashableWindow() external view returns (uint256);
}
