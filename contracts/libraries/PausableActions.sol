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
        require(_pausedActions & (1 << action) == 0, ActionPaused(action));
        _;
    }

    function isPaused(uint8 action) public view returns (bool) {
        return _pausedActions & (1 << action) != 0;
    }

    function _setPaused(uint8 action, bool paused) internal {
        if (paused) _pausedActions |= 1 << action;
        else _pausedActions &= ~(1 << action);
        emit ActionPauseSet(action, paused);
    }
}
