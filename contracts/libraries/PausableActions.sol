// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title PausableActions
/// @notice Pause flags per action (a bitmap). Only entry actions are ever pausable: exits (refunds, unbond
/// withdrawals, fee withdrawals) and operators' duties (commit, reveal) have no flag, so no pause can trap
/// funds or cause a slash.
abstract contract PausableActions {
    uint256 private _pausedActions;

    event ActionPauseSet(uint8 indexed action, bool paused);

    error ActionPaused(uint8 action);

    modifier whenActive(uint8 action) {
        require(_pausedBits() & (1 << action) == 0, ActionPaused(action));
        _;
    }

    function isPaused(uint8 action) public view returns (bool) {
        return _pausedBits() & (1 << action) != 0;
    }

    function _setPaused(uint8 action, bool paused) internal {
        uint256 bits = _pausedBits();
        _storePausedBits(paused ? bits | (1 << action) : bits & ~(1 << action));
        emit ActionPauseSet(action, paused);
    }

    /// @dev Storage hooks: a contract may keep the bitmap in a slot it reads anyway (see JobEscrow).
    function _pausedBits() internal view virtual returns (uint256) {
        return _pausedActions;
    }

    function _storePausedBits(uint256 bits) internal virtual {
        _pausedActions = bits;
    }
}
